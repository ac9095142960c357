//! `cargo xtask bench`: performance figures, printed, never asserted.
//!
//! `bench build` measures what a kernel developer waits for: the first
//! (cold) build, the no-op rebuild, a second variant of the same source, and
//! the rebuild after a one-line change to `kernel/module/main.c` that comes
//! in through a patch. It uses its own cache (default `target/bench-cache`)
//! and empties it first, so "cold" means cold (no ccache either).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use xshell::{cmd, Shell};

use crate::kernel::build::{self, BuildEnv, BuiltKernel};
use crate::progress::{BuildEvent, Progress, Reporter};
use crate::reporter::{self, Detail};
use crate::variant::Variant;
use crate::{doctor, inputs, project};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Cold build, warm no-op, second variant, and one-line patch rebuild times
    Build(BenchBuildArgs),
    /// Boot-to-agent-ready over repeated boots, and where the time goes
    Boot(BenchBootArgs),
    /// The default matrix cold (empty cache) and warm, and where the time goes
    Matrix(BenchMatrixArgs),
}

#[derive(Debug, Args)]
pub struct BenchMatrixArgs {
    /// Cache for the benchmark (default: target/bench-matrix-cache); emptied first
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Matrix file
    #[arg(long, value_name = "FILE", default_value_os_t = project::default_matrix())]
    pub matrix: PathBuf,
    /// Skip the cold run (reuse the benchmark cache as it is)
    #[arg(long)]
    pub warm_only: bool,
}

#[derive(Debug, Args)]
pub struct BenchBootArgs {
    /// Number of boots (at least 10 for the figure to mean anything)
    #[arg(long, default_value_t = 10)]
    pub boots: u32,
    #[command(flatten)]
    pub guest: crate::commands::flags::GuestArgs,
}

#[derive(Debug, Args)]
pub struct BenchBuildArgs {
    /// Cache for the benchmark (default: target/bench-cache); emptied first
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep the benchmark cache (the "cold" figure is then not cold)
    #[arg(long)]
    pub keep_cache: bool,
}

impl BenchCommand {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self {
            BenchCommand::Build(args) => bench_build(sh, &args),
            BenchCommand::Boot(args) => bench_boot(sh, &args),
            BenchCommand::Matrix(args) => bench_matrix(&args),
        }
    }
}

/// Keeps the last build's outcome for the figures, and shows every event
/// as usual.
struct CountingReporter {
    inner: Box<dyn Reporter>,
    last: std::sync::Mutex<Option<BuildEvent>>,
}

impl Reporter for CountingReporter {
    fn report(&self, event: &Progress) {
        self.inner.report(event);
        if let Progress::Build(build @ (BuildEvent::Built { .. } | BuildEvent::CacheHit { .. })) = event {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(build.clone());
        }
    }
}

struct Figure {
    what: String,
    seconds: f64,
    detail: String,
}

fn bench_build(sh: &Shell, args: &BenchBuildArgs) -> Result<()> {
    doctor::ensure_host(sh, doctor::Needs::KernelBuild { debian_sources: true }, false)?;
    let cache = match &args.cache_dir {
        Some(dir) => project::absolute(dir)?,
        None => project::root().join("target/bench-cache"),
    };
    if !args.keep_cache && cache.exists() {
        fs::remove_dir_all(&cache).with_context(|| format!("cannot empty {}", cache.display()))?;
    }
    let defaults = inputs::load_matrix(&project::default_matrix())?;
    let upstream = defaults.variant("upstream").context("the default matrix has no `upstream` variant")?.clone();
    let baseline =
        defaults.variant("stop-machine").context("the default matrix has no `stop-machine` variant")?.clone();

    let reporter = CountingReporter { inner: reporter::for_command(false, Detail::Steps), last: Default::default() };
    let env = BuildEnv::new(sh, cache.clone(), &reporter)?;
    let mut figures = Vec::new();
    let measure = |figures: &mut Vec<Figure>, what: &str, variant: &Variant| -> Result<BuiltKernel> {
        let started = Instant::now();
        let built = build::build_variant(&env, variant)?;
        let seconds = started.elapsed().as_secs_f64();
        let detail = match reporter.last.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(BuildEvent::CacheHit { .. }) => "cache hit".to_string(),
            Some(BuildEvent::Built { objects_compiled, .. }) => format!("{objects_compiled} objects compiled"),
            _ => String::new(),
        };
        figures.push(Figure { what: what.to_string(), seconds, detail });
        Ok(built)
    };

    let cold_label = if args.keep_cache { "first build (cache kept: not cold)" } else { "cold build (empty cache)" };
    let first = measure(&mut figures, cold_label, &upstream)?;
    // The no-op as a user sees it: a whole `cargo xtask kernel build`
    // process (matrix parsing, host check, toolchain probe, cache lookup).
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    cmd!(sh, "{exe} kernel build --variant upstream --cache-dir {cache}").quiet().ignore_stderr().run()?;
    figures.push(Figure {
        what: "no-op `kernel build` (new process)".into(),
        seconds: started.elapsed().as_secs_f64(),
        detail: "cache hit".into(),
    });
    measure(&mut figures, "second variant, same source (stop-machine)", &baseline)?;

    // A one-line change to kernel/module/main.c, delivered as a patch: first
    // the patch appears, then its one line changes.
    let tree = cache.join("sources").join(tree_dir_of(&first, &cache)?).join("tree");
    let main_c = fs::read_to_string(tree.join("kernel/module/main.c"))?;
    let patch_dir = cache.join("bench");
    fs::create_dir_all(&patch_dir)?;
    for (round, what) in [(1, "one-line patch added to main.c"), (2, "that patch's line changed")] {
        let patch = patch_dir.join("one-line.patch");
        fs::write(&patch, one_line_patch("kernel/module/main.c", &main_c, round)?)?;
        let variant = Variant { name: "bench-one-line".into(), patches: vec![patch], ..upstream.clone() };
        measure(&mut figures, what, &variant)?;
    }

    println!("\nmodrig bench build ({} jobs, cache {})", env.jobs, cache.display());
    for f in &figures {
        println!("  {:<46} {:>7.1} s   {}", f.what, f.seconds, f.detail);
    }
    println!("targets: no-op <= 5 s, one-file patch change <= 60 s (2 cores)");
    Ok(())
}

/// Which `sources/<tree-key>` directory a built kernel came from.
fn tree_dir_of(built: &BuiltKernel, cache: &Path) -> Result<String> {
    let identity = &built.manifest.source_identity;
    let sha = identity.strip_prefix("tarball:sha256:").context("bench build expects the default tarball source")?;
    let key = format!("tarball-{}", &sha[..16]);
    if !cache.join("sources").join(&key).is_dir() {
        bail!("source tree {key} not found in {}", cache.display());
    }
    Ok(key)
}

/// A unified diff that adds one file-scope line after the last `#include`
/// of `original`; `round` makes the line's content differ between rounds.
pub fn one_line_patch(path: &str, original: &str, round: u32) -> Result<String> {
    let lines: Vec<&str> = original.lines().collect();
    let last_include = lines
        .iter()
        .rposition(|l| l.starts_with("#include"))
        .with_context(|| format!("{path} has no #include to anchor the benchmark's patch"))?;
    // Context: up to three lines before and after the insertion point.
    let before_start = last_include.saturating_sub(2);
    let after_end = (last_include + 4).min(lines.len());
    let old_count = after_end - before_start;
    let mut diff = format!(
        "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -{},{} +{},{} @@\n",
        before_start + 1,
        old_count,
        before_start + 1,
        old_count + 1
    );
    for line in &lines[before_start..=last_include] {
        diff.push_str(&format!(" {line}\n"));
    }
    diff.push_str(&format!("+static const char modrig_bench_marker[] __used = \"round {round}\";\n"));
    for line in &lines[last_include + 1..after_end] {
        diff.push_str(&format!(" {line}\n"));
    }
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_printk_times() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[f64::NAN]).is_nan());
        let console = "SeaBIOS\n[    0.012345] Linux version 6.12\n[    0.587001] Run /init as init process\n";
        assert_eq!(printk_time_of(console, "Run /init"), Some(0.587001));
        assert_eq!(printk_time_of(console, "nothing"), None);
    }

    #[test]
    fn one_line_patch_inserts_after_the_last_include() {
        let original = "// x\n#include <a.h>\n#include <b.h>\n\nint a;\nint b;\nint c;\n";
        assert_eq!(
            one_line_patch("f.c", original, 2).unwrap(),
            "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,6 +1,7 @@\n // x\n #include <a.h>\n #include <b.h>\n\
             +static const char modrig_bench_marker[] __used = \"round 2\";\n \n int a;\n int b;\n"
        );
        assert!(one_line_patch("f.c", "int x;\n", 1).is_err());
    }
}

/// One boot's time split: host-measured total, and the guest's own clocks
/// (printk time of `Run /init`, the agent's CLOCK_MONOTONIC at Ready).
#[derive(Debug, Clone, Copy)]
struct BootSplit {
    total: f64,
    /// QEMU start to the kernel's clock zero: firmware, loader, decompression.
    before_kernel: f64,
    /// Kernel start to `Run /init`.
    kernel_init: f64,
    /// `Run /init` to the agent's Ready.
    userspace: f64,
}

/// The printk timestamp (s) of the line that contains `needle`.
pub fn printk_time_of(console: &str, needle: &str) -> Option<f64> {
    let line = console.lines().find(|l| l.contains(needle))?;
    let inner = line.trim_start().strip_prefix('[')?.split(']').next()?;
    inner.trim().parse().ok()
}

fn bench_boot(sh: &Shell, args: &BenchBootArgs) -> Result<()> {
    let reporter = reporter::for_command(false, Detail::Steps);
    let prepared = crate::prepare::prepare(sh, &args.guest.choice(), 2, reporter.as_ref())?;
    let plan = crate::executor::Plan::resolve("boot", &[])?;
    let scratch = std::env::temp_dir().join(format!("modrig-bench-boot-{}", std::process::id()));
    let mut splits = Vec::new();
    for i in 0..args.boots.max(1) {
        let dir = scratch.join(i.to_string());
        let (record, outcome) = crate::executor::run_plan(&prepared, &plan, &dir, reporter.as_ref())?;
        let Some(total) = outcome.boot_to_ready else {
            bail!("boot {i} did not reach the agent: {} (console: {})", record.verdict, outcome.console_log.display());
        };
        let ready_t = outcome.events.iter().find_map(|e| match e.kind {
            modrig_proto::EventKind::Ready { .. } => Some(e.t_ns as f64 / 1e9),
            _ => None,
        });
        let init_t = printk_time_of(&outcome.console, "Run /init as init process");
        let total = total.as_secs_f64();
        if let (Some(ready), Some(init)) = (ready_t, init_t) {
            splits.push(BootSplit { total, before_kernel: total - ready, kernel_init: init, userspace: ready - init });
        } else {
            splits.push(BootSplit { total, before_kernel: f64::NAN, kernel_init: f64::NAN, userspace: f64::NAN });
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    let column = |f: fn(&BootSplit) -> f64| -> Vec<f64> { splits.iter().map(f).collect() };
    let totals = column(|s| s.total);
    println!(
        "\nmodrig bench boot: {} boots of {} ({}), {} vCPUs, {}",
        splits.len(),
        prepared.kernel.variant,
        prepared.kernel.manifest.kernel_release,
        prepared.vcpus,
        prepared.accel.how
    );
    println!(
        "  boot to agent ready: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        median(&totals) * 1e3,
        totals.iter().cloned().fold(f64::INFINITY, f64::min) * 1e3,
        totals.iter().cloned().fold(0.0, f64::max) * 1e3
    );
    println!("  where the time goes (medians):");
    println!("    firmware + loader + decompression  {:>6.0} ms", median(&column(|s| s.before_kernel)) * 1e3);
    println!("    kernel init (to Run /init)         {:>6.0} ms", median(&column(|s| s.kernel_init)) * 1e3);
    println!("    userspace (init script + agent)    {:>6.0} ms", median(&column(|s| s.userspace)) * 1e3);
    println!("  target: <= 1500 ms under TCG with 2 vCPUs, <= 500 ms with KVM (base.config)");
    Ok(())
}

/// The median of `values` (NaNs ignored); NaN when there are none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Runs `cargo xtask matrix` twice as a user would, on a cache emptied
/// first (cold: source import, kernel builds, ccache fill) and then on the
/// same cache (warm), and prints where the time went from each run's
/// `timing.json`.
fn bench_matrix(args: &BenchMatrixArgs) -> Result<()> {
    use crate::diff::Status;
    use crate::matrix_job::{Timing, TIMING};
    let cache = match &args.cache_dir {
        Some(dir) => project::absolute(dir)?,
        None => project::root().join("target/bench-matrix-cache"),
    };
    let results = project::root().join("target/bench-matrix-results");
    if !args.warm_only {
        let _ = fs::remove_dir_all(&cache);
    }
    let _ = fs::remove_dir_all(&results);
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut rows = Vec::new();
    let runs: &[&str] = if args.warm_only { &["warm"] } else { &["cold", "warm"] };
    for (i, what) in runs.iter().enumerate() {
        let out = results.join(format!("{i}-{what}"));
        eprintln!("bench matrix: {what} run (cache {})", cache.display());
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .args(["matrix", "--matrix"])
            .arg(&args.matrix)
            .arg("--results")
            .arg(&out)
            .env(project::CACHE_DIR_ENV, &cache)
            .status()
            .context("cannot run cargo xtask matrix")?;
        let wall = started.elapsed().as_secs_f64();
        // A matrix run that finished exits with its status's code, whatever
        // it found; any other code means the run itself failed.
        let finished = [Status::Clean, Status::Regressed, Status::Infra]
            .iter()
            .any(|finished| status.code() == Some(i32::from(finished.exit_code())));
        if !finished {
            bail!("the {what} matrix run failed ({status})");
        }
        let run = fs::read_dir(&out)?.next().context("the matrix run left no run directory")??.path();
        let timing: Timing = serde_json::from_slice(&fs::read(run.join(TIMING))?)
            .with_context(|| format!("cannot read {}", run.join(TIMING).display()))?;
        rows.push((what.to_string(), wall, timing, status.code().unwrap_or(-1)));
    }
    println!("bench matrix ({}; {} host cores)", args.matrix.display(), crate::matrix_job::host_cores());
    println!(
        "{:<6} {:>9} {:>20} {:>20} {:>20} {:>6} {:>5}",
        "run", "wall", "build", "boot", "scenarios", "cells", "exit"
    );
    for (what, wall, t, code) in rows {
        let share = |s: f64| format!("{s:.0} s ({:.0} %)", 100.0 * s / t.total_s.max(1e-9));
        println!(
            "{what:<6} {:>7.0} s {:>20} {:>20} {:>20} {:>6} {code:>5}",
            wall,
            share(t.build_s),
            share(t.boot_s),
            share(t.scenarios_s),
            t.cells_run
        );
    }
    println!("targets: cold <= 1200 s, warm <= 360 s on a 2-core host without KVM, with the matrix's boots per side");
    Ok(())
}
