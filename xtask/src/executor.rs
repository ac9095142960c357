//! Runs cells in guests and writes what each one left: a cell alone in its
//! boot ([`run_plan`]), or several cells one after another in one boot
//! ([`run_in_one_boot`]), each with its own events, its part of the console
//! and its `verdict.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::classify;
use crate::diag::BadInput;
use crate::fsutil::write_atomic;
use crate::guest::qemu::Accel;
use crate::guest::runner::{self, BootSpec, Booted, Checkpoint, Deadlines, Guest, ProgramOutcome, RunOutcome, RunSpec};
use crate::kernel::build::BuiltKernel;
use crate::kernel::decode::Decoder;
use crate::kernel_event::EventClass;
use crate::outcome::RunEnd;
use crate::prepare::Prepared;
use crate::progress::{Progress, Reporter};
use crate::record::{BootRef, RunRecord, RUN_RECORD_SCHEMA, VERDICT_FILE};
use crate::scenario::compile::{self, Compiled, Metrics};
use crate::scenario::{self, builtin, Scenario};
use crate::verdict::{self, Judgement};
use crate::{inputs, project};
use modrig_proto::Program;

/// What a cell executes: a scenario and the agent program compiled from it.
pub struct Plan {
    pub scenario: Scenario,
    pub compiled: Compiled,
}

impl Plan {
    /// A built-in scenario's name, else a scenario file, else
    /// `scenarios/<name>.yaml`. It may name the stress modules and those of
    /// the user's `module_dirs`.
    pub fn resolve(name: &str, module_dirs: &[PathBuf]) -> Result<Plan> {
        let modules = inputs::known_modules(module_dirs)?;
        let known = scenario::Known { modules: &modules };
        let scenario = if let Some(builtin) = builtin::find(name) {
            scenario::parse(&builtin.file, builtin.text, &known)?
        } else {
            let named = project::root().join("scenarios").join(format!("{name}.yaml"));
            let file = if Path::new(name).is_file() { PathBuf::from(name) } else { named };
            if !file.is_file() {
                anyhow::bail!(
                    "no scenario `{name}`: not a file, not {}, and not a built-in ({})",
                    file.display(),
                    builtin::names().collect::<Vec<_>>().join(", ")
                );
            }
            inputs::load_scenario(&file, &known)?
        };
        let compiled = compile::compile(&scenario);
        Ok(Plan { scenario, compiled })
    }

    pub fn name(&self) -> &str {
        &self.scenario.name
    }

    /// Whether `kernel` has the kernel's own modules this scenario loads
    /// (`kernel_modules:`): known only once it is built, so every run checks
    /// before its first boot. The error names the variant, where the rig
    /// looked, and what is there.
    pub fn check_kernel_modules(&self, kernel: &BuiltKernel) -> Result<()> {
        let missing = kernel.in_tree.missing(&self.scenario.kernel_modules);
        if missing.is_empty() {
            return Ok(());
        }
        let configs: Vec<String> = kernel
            .manifest
            .configs
            .iter()
            .map(|c| c.file_name().map_or_else(|| c.display().to_string(), |n| n.to_string_lossy().into_owned()))
            .collect();
        let message = format!(
            "scenario `{}` loads the kernel's own module(s) {}, which variant {} does not have: looked in {} \
             (its kernel, built from {}), which has {}. Build it `=m` in one of the variant's configs \
             (kernel-configs/victims.config has null_blk, brd and loop); the stress modules and your own go in \
             `modules:`",
            self.name(),
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
            kernel.variant,
            kernel.in_tree.modules_dep().display(),
            configs.join(", "),
            kernel.in_tree.contents(),
        );
        Err(BadInput(message).into())
    }

    pub fn program(&self) -> &Program {
        &self.compiled.program
    }

    pub fn default_vcpus(&self) -> u32 {
        self.scenario.vcpus
    }

    fn allowed(&self) -> BTreeSet<EventClass> {
        self.scenario.expect.allow.iter().copied().collect()
    }

    /// Broken expectations, and the metrics the scenario declares.
    fn evaluate(&self, events: &[modrig_proto::Event]) -> (Vec<String>, Metrics) {
        let eval = compile::evaluate(&self.compiled, events);
        (eval.broken, declared_only(eval.metrics, &self.scenario.metrics))
    }

    fn cmdline(&self) -> Vec<String> {
        self.scenario.cmdline.clone()
    }

    fn deadlines(&self, accel: Accel) -> Deadlines {
        Deadlines { run: self.scenario.deadline, ..Deadlines::for_accel(accel) }
    }
}

/// Keeps the metrics a scenario asks for (`metrics:`) and drops the rest:
/// a correctness scenario's syscalls are timed too, but its cells may share
/// the host with other guests, so their timings are no measurement, and a
/// comparison of them would only add noise to the diff. Outcome counts are
/// kept always: they are evidence, not timing.
fn declared_only(metrics: Metrics, declared: &[scenario::Metric]) -> Metrics {
    use scenario::Metric;
    let asked = |m: Metric| declared.contains(&m);
    Metrics {
        unload_latency_ns: if asked(Metric::UnloadLatency) { metrics.unload_latency_ns } else { vec![] },
        load_latency_ns: if asked(Metric::LoadLatency) { metrics.load_latency_ns } else { vec![] },
        outcomes: metrics.outcomes,
        cycles_per_sec: if asked(Metric::CyclesPerSec) { metrics.cycles_per_sec } else { None },
        stall_other_cpus_ns: if asked(Metric::StallOtherCpus) { metrics.stall_other_cpus_ns } else { vec![] },
        stall_other_cpus_thread_ns: if asked(Metric::StallOtherCpus) {
            metrics.stall_other_cpus_thread_ns
        } else {
            vec![]
        },
        refcount_ops_per_sec: if asked(Metric::RefcountOps) { metrics.refcount_ops_per_sec } else { vec![] },
    }
}

/// Runs `plan` alone in a boot of a prepared guest and writes
/// `verdict.json` into `dir`.
pub fn run_plan(
    prepared: &Prepared,
    plan: &Plan,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<(RunRecord, RunOutcome)> {
    let boot = format!("{}-{}cpu", prepared.kernel.variant, prepared.vcpus);
    let cell = format!("{}/{}/{}cpu", prepared.kernel.variant, plan.name(), prepared.vcpus);
    reporter.report(&Progress::CellStarted { boot: boot.clone(), cell: cell.clone() });
    let outcome = runner::run(&RunSpec {
        boot: boot_spec(prepared, plan.cmdline(), dir, boot, reporter),
        program: plan.program(),
        deadlines: plan.deadlines(prepared.accel.accel),
    })?;
    let record = record_for(
        prepared,
        plan,
        CellFacts {
            end: outcome.end.clone(),
            events: &outcome.events,
            console: &outcome.console,
            console_log: outcome.console_log.clone(),
            events_log: outcome.events_log.clone(),
            boot_to_ready: outcome.boot_to_ready,
            boot_to_init: outcome.boot_to_init,
            wall: outcome.wall,
            host_load: outcome.host_load,
            boot: None,
        },
    );
    write_atomic(&dir.join(VERDICT_FILE), &serde_json::to_vec_pretty(&record)?)?;
    reporter.report(&cell_ended(cell, &record, dir));
    Ok((record, outcome))
}

/// How a cell's guest boots: the prepared kernel and image, the extra
/// kernel command line, console and QEMU argv into `out_dir`, sysrq dumps
/// when it hangs.
fn boot_spec<'a>(
    prepared: &'a Prepared,
    cmdline_extra: Vec<String>,
    out_dir: &'a Path,
    label: String,
    reporter: &'a dyn Reporter,
) -> BootSpec<'a> {
    BootSpec {
        bzimage: &prepared.kernel.bzimage,
        initrd: &prepared.initrd,
        accel: prepared.accel.accel,
        vcpus: prepared.vcpus,
        memory_mib: prepared.memory_mib,
        boot_deadline: runner::boot_deadline(prepared.accel.accel),
        cmdline_extra,
        out_dir,
        sysrq_on_hang: true,
        label,
        reporter,
    }
}

/// The event that says a cell ended, from its record.
pub fn cell_ended(cell: String, record: &RunRecord, dir: &Path) -> Progress {
    Progress::CellEnded {
        cell,
        verdict: record.verdict,
        seconds: record.wall_ms / 1e3,
        reason: record.reasons.first().cloned(),
        dir: dir.to_path_buf(),
    }
}

/// What one cell's record is made of.
struct CellFacts<'a> {
    end: RunEnd,
    /// The agent's events, its Ready first.
    events: &'a [modrig_proto::Event],
    /// The cell's part of the console.
    console: &'a str,
    console_log: PathBuf,
    events_log: PathBuf,
    boot_to_ready: Option<std::time::Duration>,
    boot_to_init: Option<std::time::Duration>,
    wall: std::time::Duration,
    host_load: Option<crate::guest::hostload::HostLoad>,
    boot: Option<BootRef>,
}

/// Classifies the cell's console, checks its expectations and judges it.
fn record_for(prepared: &Prepared, plan: &Plan, facts: CellFacts<'_>) -> RunRecord {
    let mut kernel_events = classify::classify(facts.console);
    let (broken, metrics) = plan.evaluate(facts.events);
    let Judgement { verdict, reasons } = verdict::judge(&facts.end, &kernel_events, &broken, &plan.allowed());
    // Judged on the console as printed; recorded with each frame's file:line.
    if !kernel_events.is_empty() {
        let decoder = Decoder::for_kernel(&prepared.kernel);
        for event in &mut kernel_events {
            event.excerpt = decoder.decode(&event.excerpt);
        }
    }
    RunRecord {
        schema: RUN_RECORD_SCHEMA,
        verdict,
        reasons,
        scenario: plan.name().to_string(),
        variant: prepared.kernel.variant.clone(),
        kernel_key: prepared.kernel.key.clone(),
        kernel_release: prepared.kernel.manifest.kernel_release.clone(),
        vcpus: prepared.vcpus,
        accel: prepared.accel.clone(),
        end: facts.end,
        boot_to_init_ms: facts.boot_to_init.map(|d| d.as_secs_f64() * 1e3),
        boot_to_ready_ms: facts.boot_to_ready.map(|d| d.as_secs_f64() * 1e3),
        wall_ms: facts.wall.as_secs_f64() * 1e3,
        kernel_events,
        metrics: Some(metrics),
        console_log: facts.console_log,
        events_log: facts.events_log,
        host_load: facts.host_load,
        boot: facts.boot,
    }
}

/// One cell of a boot that several cells share: what runs, and where its
/// files go.
pub struct BootCell<'a> {
    pub plan: &'a Plan,
    pub dir: PathBuf,
    /// How the console marks name the cell.
    pub label: String,
    /// For a timing cell: above this many host cores of other processes'
    /// CPU use while it ran, a passing attempt is spoiled and runs again.
    pub max_host_load: Option<f64>,
}

/// How often a timing cell the host spoiled runs again before its noise is
/// left to the diff (which then leaves the boot out).
const NOISY_RETRIES: u32 = 2;

/// Runs `cells` one after another in one boot of `prepared`, so that a
/// boot's cost is paid once for all of them. Each cell is still a cell of
/// its own: its events, its part of the console (cut at a mark the agent
/// writes to the kernel log after each cell), its verdict.
///
/// The boot goes on to the next cell only while the last one left the
/// kernel as it found it: it passed, its part of the console has no kernel
/// event at all (even an allowed WARNING taints the kernel), and the loaded
/// modules are those the boot started with. Otherwise, or when the guest
/// died, the boot ends there. Whatever the console printed after a cell's
/// end mark belongs to the next cell; after the last cell that ran (its
/// shutdown, a late panic, sysrq dumps), to that cell.
///
/// A timing cell that passed while other host processes used more than its
/// `max_host_load` runs again at once in the same boot, [`NOISY_RETRIES`]
/// times at most; the spoiled attempt is kept as `<cell>.noisy-N/`. A cell
/// that did not pass is never retried, since that could hide a kernel
/// failure behind a retry. (The boot stays the unit of the statistics: a
/// comparison still never has two cells of one boot.)
///
/// Returns the records of the cells that ran, in order: at least the first
/// (a boot that failed is the first cell's verdict). The caller runs the
/// rest in another boot. Every `verdict.json` is written once the boot has
/// ended, when each cell's part of the console is known.
pub fn run_in_one_boot(
    prepared: &Prepared,
    cells: &[BootCell<'_>],
    boot_dir: &Path,
    reporter: &dyn Reporter,
) -> Result<Vec<RunRecord>> {
    let first = cells.first().context("a boot needs at least one cell")?;
    let cmdline = first.plan.cmdline();
    if let Some(other) = cells.iter().find(|c| c.plan.cmdline() != cmdline) {
        anyhow::bail!(
            "{} and {} need different kernel command lines: they cannot share a boot",
            first.label,
            other.label
        );
    }
    for cell in cells {
        std::fs::create_dir_all(&cell.dir).with_context(|| format!("cannot create {}", cell.dir.display()))?;
    }
    let accel = prepared.accel.accel;
    let boot_label = boot_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    reporter.report(&Progress::CellStarted { boot: boot_label.clone(), cell: first.label.clone() });
    let spec = boot_spec(prepared, cmdline, boot_dir, boot_label.clone(), reporter);
    let boot_log = boot_dir.join("console.log");
    let boot_ref = |position: usize| Some(BootRef { console_log: boot_log.clone(), position: position as u32 });
    let mut guest = match Guest::boot(&spec)? {
        Booted::Ready(guest) => guest,
        Booted::Failed(failure) => return record_failed_boot(prepared, first, failure, boot_ref(0), reporter),
    };
    let mut ran: Vec<Attempt> = Vec::new();
    let mut cut = 0usize;
    let at_boot = match guest.checkpoint("modrig: boot ready for cells", 0)? {
        Ok(checkpoint) => checkpoint,
        Err(end) => {
            // The guest died before any cell ran: that is the first cell's verdict.
            let outcome = ProgramOutcome { end, events: vec![], host_load: None, wall: std::time::Duration::ZERO };
            ran.push(Attempt { cell: 0, dir: first.dir.clone(), outcome, from: 0 });
            Checkpoint { console_end: 0, modules: None }
        }
    };
    let mut position = 0;
    let mut spoiled_attempts = 0u32;
    // The first cell was announced before the boot; a retried one is not
    // announced again.
    let mut announced = 1;
    while position < cells.len() && guest.alive() {
        let cell = &cells[position];
        if position >= announced {
            reporter.report(&Progress::CellStarted { boot: boot_label.clone(), cell: cell.label.clone() });
            announced = position + 1;
        }
        let events_log = cell.dir.join("events.jsonl");
        let outcome = guest.run_program(cell.plan.program(), cell.plan.deadlines(accel), Some(&events_log))?;
        let done = outcome.end == RunEnd::Done;
        let other_load = outcome.host_load.map(|h| h.other_cores);
        ran.push(Attempt { cell: position, dir: cell.dir.clone(), outcome, from: cut });
        if !done {
            break;
        }
        let Ok(checkpoint) = guest.checkpoint(&format!("modrig: cell {} ends", cell.label), cut)? else { break };
        let (tail, _) = guest.console_since(cut);
        let part = &tail[..(checkpoint.console_end - cut).min(tail.len())];
        let attempt = ran.last_mut().context("a cell just ran")?;
        let (broken, _) = cell.plan.evaluate(&with_ready(guest.ready_event(), &attempt.outcome.events));
        let clean = broken.is_empty() && classify::classify(part).is_empty();
        cut = checkpoint.console_end;
        if !clean || checkpoint.modules != at_boot.modules {
            break;
        }
        let spoiled = matches!((cell.max_host_load, other_load), (Some(max), Some(other)) if other > max);
        if spoiled && spoiled_attempts < NOISY_RETRIES {
            spoiled_attempts += 1;
            reporter.report(&Progress::CellRetried {
                cell: cell.label.clone(),
                other_cores: other_load.unwrap_or_default(),
            });
            let aside = noisy_dir(&cell.dir, spoiled_attempts);
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::create_dir_all(&aside).with_context(|| format!("cannot create {}", aside.display()))?;
            std::fs::rename(&events_log, aside.join("events.jsonl"))
                .with_context(|| format!("cannot move {} aside", events_log.display()))?;
            attempt.dir = aside;
            continue; // the same cell again
        }
        position += 1;
        spoiled_attempts = 0;
    }
    let boot_to_ready = guest.boot_to_ready();
    let ready = guest.ready_event().clone();
    let finished = guest.finish();
    let boot = BootFacts { ready: &ready, boot_to_ready, finished: &finished, console_log: &boot_log };
    write_records(prepared, cells, &ran, &boot, reporter)
}

/// A boot that failed before its agent was ready: the first cell gets its
/// verdict and the whole console; the others run in another boot.
fn record_failed_boot(
    prepared: &Prepared,
    first: &BootCell<'_>,
    failure: runner::BootFailure,
    boot: Option<BootRef>,
    reporter: &dyn Reporter,
) -> Result<Vec<RunRecord>> {
    let facts = CellFacts {
        end: failure.end,
        events: &failure.events,
        console: &failure.console,
        console_log: first.dir.join("console.log"),
        events_log: first.dir.join("events.jsonl"),
        boot_to_ready: None,
        boot_to_init: failure.boot_to_init,
        wall: std::time::Duration::ZERO,
        host_load: None,
        boot,
    };
    let record = write_cell(prepared, first.plan, &first.dir, facts)?;
    reporter.report(&cell_ended(first.label.clone(), &record, &first.dir));
    Ok(vec![record])
}

/// What a finished boot that cells shared tells each cell's record.
struct BootFacts<'a> {
    ready: &'a modrig_proto::Event,
    boot_to_ready: std::time::Duration,
    finished: &'a runner::Finished,
    /// The boot's whole console.
    console_log: &'a Path,
}

/// Writes each attempt's part of the console, events and `verdict.json`,
/// once the boot has ended and every part is known. Returns the records of
/// the cells (their last attempts), in order.
fn write_records(
    prepared: &Prepared,
    cells: &[BootCell<'_>],
    ran: &[Attempt],
    boot: &BootFacts<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<RunRecord>> {
    let finished = boot.finished;
    let mut runs: Vec<RunRecord> = Vec::new();
    for (index, attempt) in ran.iter().enumerate() {
        let to = ran.get(index + 1).map_or(finished.console.len(), |next| next.from);
        let console = finished.console.get(attempt.from..to).unwrap_or_default();
        let events = with_ready(boot.ready, &attempt.outcome.events);
        let first_in_boot = index == 0;
        let facts = CellFacts {
            end: attempt.outcome.end.clone(),
            events: &events,
            console,
            console_log: attempt.dir.join("console.log"),
            events_log: attempt.dir.join("events.jsonl"),
            boot_to_ready: first_in_boot.then_some(boot.boot_to_ready),
            boot_to_init: if first_in_boot { finished.boot_to_init } else { None },
            wall: if first_in_boot { boot.boot_to_ready + attempt.outcome.wall } else { attempt.outcome.wall },
            host_load: attempt.outcome.host_load,
            boot: Some(BootRef { console_log: boot.console_log.to_path_buf(), position: index as u32 }),
        };
        let record = write_cell(prepared, cells[attempt.cell].plan, &attempt.dir, facts)?;
        // A spoiled attempt is kept aside; the cell's record is its last.
        if attempt.dir == cells[attempt.cell].dir {
            reporter.report(&cell_ended(cells[attempt.cell].label.clone(), &record, &attempt.dir));
            runs.push(record);
        }
    }
    Ok(runs)
}

/// One program run of a cell: the cell's only one, or one of its attempts.
struct Attempt {
    cell: usize,
    /// Where its files go: the cell's directory, or `<cell>.noisy-N/`.
    dir: PathBuf,
    outcome: ProgramOutcome,
    /// Its part of the console: from here to the next attempt's `from`
    /// (or the console's end, for the last one).
    from: usize,
}

/// Where the N-th spoiled attempt of the cell in `dir` is kept.
fn noisy_dir(dir: &Path, attempt: u32) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!("{name}.noisy-{attempt}"))
}

/// The agent's Ready, then `events`: what a cell's expectations are checked on.
fn with_ready(ready: &modrig_proto::Event, events: &[modrig_proto::Event]) -> Vec<modrig_proto::Event> {
    std::iter::once(ready).chain(events).cloned().collect()
}

/// Writes a cell's part of the console, its events (unless the agent's were
/// written as they came), and its `verdict.json`.
fn write_cell(prepared: &Prepared, plan: &Plan, dir: &Path, facts: CellFacts<'_>) -> Result<RunRecord> {
    std::fs::write(&facts.console_log, facts.console)
        .with_context(|| format!("cannot write {}", facts.console_log.display()))?;
    if !facts.events_log.exists() {
        let lines: Vec<String> = facts.events.iter().filter_map(|e| serde_json::to_string(e).ok()).collect();
        std::fs::write(&facts.events_log, lines.iter().map(|l| format!("{l}\n")).collect::<String>())?;
    }
    let record = record_for(prepared, plan, facts);
    write_atomic(&dir.join(VERDICT_FILE), &serde_json::to_vec_pretty(&record)?)?;
    Ok(record)
}
