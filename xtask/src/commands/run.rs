//! `cargo xtask run`: one scenario on one variant in one guest, with a
//! verdict, its evidence, and an exit code per verdict.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use xshell::Shell;

use crate::commands::flags::{GuestArgs, OutputArgs, ResultsArgs};
use crate::executor::{run_plan, Plan};
use crate::prepare::prepare;
use crate::progress::Progress;
use crate::record::RunRecord;
use crate::reporter::{self, Detail};
use crate::{errno, results};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario file (or the name of one in scenarios/), or a built-in:
    /// load-unload, boot, fixture-panic-in-init, fixture-hang-in-exit, fixture-warn
    pub scenario: String,
    #[command(flatten)]
    pub guest: GuestArgs,
    #[command(flatten)]
    pub results: ResultsArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl RunArgs {
    pub fn run(self, sh: &Shell) -> Result<ExitCode> {
        // The scenario is checked before anything is built or booted.
        let plan = Plan::resolve(&self.scenario, &self.guest.host.options().module_dirs()?)?;
        let reporter = reporter::for_command(self.output.json, Detail::Steps);
        let prepared = prepare(sh, &self.guest.choice(), plan.default_vcpus(), reporter.as_ref())?;
        plan.check_kernel_modules(&prepared.kernel)?;
        let results = self.results.dir();
        let (_, dir) = results::create_run_dir(&results, &format!("{}-{}", prepared.kernel.variant, plan.name()))?;
        let (record, _) = run_plan(&prepared, &plan, &dir, reporter.as_ref())?;
        if !self.output.json {
            print_summary(&record, &plan);
        }
        reporter.report(&Progress::RunFinished { record: Box::new(record.clone()) });
        Ok(ExitCode::from(record.verdict.exit_code()))
    }
}

/// Up to this many syscalls, the summary lists each one; beyond, it sums
/// them up by the scenario's metrics.
const SYSCALLS_LISTED: usize = 24;

fn print_summary(record: &RunRecord, plan: &Plan) {
    println!(
        "{} {} on {} ({}, {} vCPUs, {})",
        record.verdict, record.scenario, record.variant, record.kernel_release, record.vcpus, record.accel.how
    );
    for reason in &record.reasons {
        println!("  because: {reason}");
    }
    if let Some(ms) = record.boot_to_ready_ms {
        println!("  boot to agent ready: {ms:.0} ms; whole run: {:.1} s", record.wall_ms / 1e3);
    }
    // Each syscall on its own line for short programs; scenarios with loops
    // are summed up by their metrics below.
    let text = std::fs::read_to_string(&record.events_log).unwrap_or_default();
    let syscalls: Vec<modrig_proto::Event> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<modrig_proto::Event>(line).ok())
        .filter(|event| matches!(event.kind, modrig_proto::EventKind::Syscall { .. }))
        .collect();
    if syscalls.len() <= SYSCALLS_LISTED {
        for event in &syscalls {
            if let (Some(step), modrig_proto::EventKind::Syscall { name, target, errno, duration_ns, .. }) =
                (event.step, &event.kind)
            {
                let result = errno.map(errno::name).unwrap_or_else(|| "ok".into());
                let what = modrig_proto::describe_step(modrig_proto::step_at(&plan.program().steps, step));
                println!("  step {step}: {what}: {name}({target}) = {result} in {:.3} ms", *duration_ns as f64 / 1e6);
            }
        }
    }
    if let Some(metrics) = record.metrics.as_ref().filter(|_| syscalls.len() > SYSCALLS_LISTED) {
        for (name, samples) in [("load", &metrics.load_latency_ns), ("unload", &metrics.unload_latency_ns)] {
            if !samples.is_empty() {
                let ms: Vec<f64> = samples.iter().map(|&ns| ns as f64 / 1e6).collect();
                println!(
                    "  {name} latency: n={} median {:.3} ms, max {:.3} ms",
                    ms.len(),
                    crate::stats::median(&ms).unwrap_or(f64::NAN),
                    ms.iter().cloned().fold(0.0, f64::max)
                );
            }
        }
        for (name, samples) in [
            ("stall on other CPUs per unload", &metrics.stall_other_cpus_ns),
            ("  (thread lateness)", &metrics.stall_other_cpus_thread_ns),
        ] {
            if !samples.is_empty() {
                let ms: Vec<f64> = samples.iter().map(|&ns| ns as f64 / 1e6).collect();
                let mut sorted = ms.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
                println!(
                    "  {name}: n={} median {:.3} ms, p90 {p90:.3} ms, max {:.3} ms",
                    ms.len(),
                    crate::stats::median(&ms).unwrap_or(f64::NAN),
                    sorted[sorted.len() - 1]
                );
            }
        }
        for (cpu, ops) in &metrics.refcount_ops_per_sec {
            println!("  refcount get/put on CPU {cpu}: {ops} ops/s");
        }
        if let Some(rate) = metrics.cycles_per_sec {
            println!("  load/unload cycles: {rate:.1}/s");
        }
        for (what, count) in &metrics.outcomes {
            println!("  {count:>6} x {what}");
        }
    }
    for event in &record.kernel_events {
        println!("  kernel: {} at console lines {}-{}:", event.class.name(), event.first_line, event.last_line);
        for line in event.excerpt.lines().take(12) {
            println!("    | {line}");
        }
        let more = event.excerpt.lines().count().saturating_sub(12);
        if more > 0 {
            println!("    | ... {more} more lines in the console log");
        }
    }
    println!("  console: {}", record.console_log.display());
    println!("  events:  {}", record.events_log.display());
}
