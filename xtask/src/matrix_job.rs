//! One matrix run, carried out: build every variant, run every cell of the
//! matrix (or of one shard) and store what each left in the run directory.
//! The `matrix` and `calibrate` commands run it, then report.
//!
//! Cells run in boots that several of them share (see `plan::boots`). Boots
//! of cells that measure timing run one at a time with the host to
//! themselves; correctness boots run first, in parallel on a rayon pool, as
//! many at once as the host has a core for each of their vCPUs (under TCG a
//! vCPU is a host thread, and an overcommitted host turns into false RCU
//! stalls).

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use xshell::Shell;

use crate::cell::CellKey;
use crate::executor::{self, Plan};
use crate::matrix::plan::{self, Cell, PlannedScenario, Shard};
use crate::matrix::Matrix;
use crate::metrics::Metric;
use crate::outcome::{RunEnd, Verdict};
use crate::prepare::{self, HostOptions, Prepared};
use crate::progress::{Progress, Reporter};
use crate::record::{RunRecord, RUN_RECORD_SCHEMA, VERDICT_FILE};
use crate::results::{self, FileHash, HostRecord, Inputs, Manifest, RunDir, VariantInputs};
use crate::{fsutil, project, timefmt};

/// What a run needs besides its cells: the guests and the scenarios.
struct Setup<'a> {
    prepared: Vec<Prepared>,
    plans: Vec<(PlannedScenario, Plan)>,
    /// The matrix's `max_host_load`: above it a timing boot is noisy.
    max_host_load: f64,
    reporter: &'a dyn Reporter,
}

/// How one matrix run is carried out, besides the matrix itself.
pub struct Job {
    /// Only these scenarios of the matrix (empty: all).
    pub scenarios: Vec<String>,
    pub shard: Option<Shard>,
    /// Finish this interrupted run instead of starting one.
    pub resume: Option<PathBuf>,
    /// Where run directories go.
    pub results: PathBuf,
    /// The run directory's tag (default `matrix`, or the shard).
    pub tag: Option<String>,
}

/// Builds both variants and runs every cell of `matrix` without a verdict.
/// Returns the run directory.
pub fn execute(sh: &Shell, host: &HostOptions, matrix: &Matrix, job: &Job, reporter: &dyn Reporter) -> Result<PathBuf> {
    let started = Instant::now();
    let (baseline, candidate) = sides(matrix)?;
    let plans = load_scenarios(matrix, &host.module_dirs_with(matrix)?, &job.scenarios)?;
    let planned: Vec<PlannedScenario> = plans.iter().map(|(p, _)| p.clone()).collect();
    let variants = vec![baseline.clone(), candidate.clone()];
    let mut cells = plan::plan(&variants, &planned, &matrix.vcpus);
    if let Some(shard) = job.shard {
        cells = plan::shard(&cells, shard);
    }

    let build_started = Instant::now();
    let (prepared, facts) = prepare::prepare_matrix_variants(sh, host, matrix, &variants, reporter)?;
    for guest in &prepared {
        for (_, plan) in &plans {
            plan.check_kernel_modules(&guest.kernel)?;
        }
    }
    let build_time = build_started.elapsed();
    let inputs = inputs(matrix, &baseline, &candidate, &prepared, &planned)?;
    let host = HostRecord {
        kernel: facts.host_kernel,
        qemu: facts.qemu_version,
        cores: host_cores(),
        accel: prepared[0].accel.clone(),
    };
    let keys: Vec<CellKey> = cells.iter().map(|c| c.key.clone()).collect();
    let run = match &job.resume {
        Some(dir) => RunDir::resume(dir, &inputs, job.shard, &keys)?,
        None => {
            let tag = match (job.shard, &job.tag) {
                (Some(s), _) => format!("shard{}of{}", s.k, s.n),
                (None, Some(tag)) => tag.clone(),
                (None, None) => "matrix".to_string(),
            };
            let manifest = Manifest {
                schema: results::MANIFEST_SCHEMA,
                run_id: String::new(),
                created_utc: timefmt::now_compact_utc(),
                rig: results::rig_version(&project::root()),
                host,
                inputs,
                shard: job.shard,
                merged_from: vec![],
                cells: keys,
                order: plan::run_order(&cells, &planned).into_iter().map(|c| c.key).collect(),
            };
            RunDir::create(&job.results, &tag, manifest)?
        }
    };
    reporter.report(&Progress::MatrixStarted {
        cells: cells.len(),
        baseline: baseline.clone(),
        candidate: candidate.clone(),
        scenarios: planned.len(),
        vcpus: matrix.vcpus.clone(),
        boots_per_side: matrix.repetitions,
        shard: job.shard.map(|s| s.to_string()),
        accel: prepared[0].accel.how.clone(),
        run_dir: run.path().to_path_buf(),
    });

    let setup = Setup { prepared, plans, max_host_load: matrix.diff.thresholds.max_host_load, reporter };
    let cells_started = Instant::now();
    let times = run_cells(&setup, &cells, &run)?;
    let cells_time = cells_started.elapsed();
    let timing = Timing {
        total_s: started.elapsed().as_secs_f64(),
        build_s: build_time.as_secs_f64(),
        boot_s: times.boot.as_secs_f64(),
        scenarios_s: cells_time.saturating_sub(times.boot).as_secs_f64(),
        cells_run: times.ran,
    };
    fsutil::write_atomic(&run.path().join(TIMING), &serde_json::to_vec_pretty(&timing)?)?;
    reporter.report(&Progress::MatrixFinished {
        seconds: timing.total_s,
        build_seconds: timing.build_s,
        boot_seconds: timing.boot_s,
        scenario_seconds: timing.scenarios_s,
    });
    Ok(run.path().to_path_buf())
}

/// The baseline and candidate variant names: the file's, else its first two.
pub fn sides(matrix: &Matrix) -> Result<(String, String)> {
    let name = |i: usize| matrix.variants.get(i).map(|v| v.name.clone());
    let baseline = matrix.baseline.clone().or_else(|| name(0));
    let candidate = matrix.candidate.clone().or_else(|| name(1));
    match (baseline, candidate) {
        (Some(b), Some(c)) if b != c => Ok((b, c)),
        _ => bail!(
            "{}: a matrix compares two variants; declare at least two (and optionally `baseline:` and `candidate:`)",
            matrix.file.display()
        ),
    }
}

/// The matrix's scenarios (or the named subset), compiled; a timing
/// scenario is one that asks for any metric but outcome counts.
fn load_scenarios(matrix: &Matrix, module_dirs: &[PathBuf], only: &[String]) -> Result<Vec<(PlannedScenario, Plan)>> {
    if matrix.scenarios.is_empty() {
        bail!("{}: the matrix lists no `scenarios:`", matrix.file.display());
    }
    let mut out: Vec<(PlannedScenario, Plan)> = Vec::new();
    for (file, repetitions) in matrix.scenarios.iter().zip(&matrix.scenario_repetitions) {
        let plan = Plan::resolve(&file.to_string_lossy(), module_dirs)?;
        let scenario = &plan.scenario;
        if !only.is_empty() && !only.contains(&scenario.name) {
            continue;
        }
        if out.iter().any(|(p, _)| p.name == scenario.name) {
            bail!(
                "two scenarios of {} are named `{}`: cell directories need unique names",
                matrix.file.display(),
                scenario.name
            );
        }
        let timing = scenario.metrics.iter().any(|m| *m != Metric::Outcomes);
        let repetitions = repetitions.unwrap_or(matrix.repetitions);
        let planned = PlannedScenario {
            name: scenario.name.clone(),
            file: file.clone(),
            timing,
            repetitions,
            cmdline: scenario.cmdline.clone(),
            ends_boot: !scenario.expect.allow.is_empty(),
        };
        out.push((planned, plan));
    }
    for name in only {
        if !out.iter().any(|(p, _)| &p.name == name) {
            let known: Vec<&str> = out.iter().map(|(p, _)| p.name.as_str()).collect();
            bail!("--scenario {name}: not in {} (it has: {})", matrix.file.display(), known.join(", "));
        }
    }
    Ok(out)
}

fn inputs(
    matrix: &Matrix,
    baseline: &str,
    candidate: &str,
    prepared: &[Prepared],
    scenarios: &[PlannedScenario],
) -> Result<Inputs> {
    let mut variants = Vec::new();
    for p in prepared {
        let m = &p.kernel.manifest;
        let variant = matrix.variant(&p.kernel.variant).context("a prepared variant is not in the matrix")?;
        variants.push(VariantInputs {
            name: p.kernel.variant.clone(),
            kernel_key: p.kernel.key.clone(),
            kernel_release: m.kernel_release.clone(),
            source: m.source.clone(),
            source_identity: m.source_identity.clone(),
            patches: m.patches.iter().map(|r| FileHash { path: r.file.clone(), sha256: r.sha256.clone() }).collect(),
            configs: variant.configs.iter().map(|c| FileHash::of(c)).collect::<Result<_>>()?,
            modules_key: p.kernel.modules_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        });
    }
    Ok(Inputs {
        matrix_file: matrix.file.clone(),
        matrix_sha256: FileHash::of(&matrix.file)?.sha256,
        baseline: baseline.to_string(),
        candidate: candidate.to_string(),
        variants,
        scenarios: scenarios.iter().map(|s| FileHash::of(&s.file)).collect::<Result<_>>()?,
        vcpus: matrix.vcpus.clone(),
        repetitions: matrix.repetitions,
        diff: matrix.diff.clone(),
    })
}

pub fn host_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Where the cells' time went.
#[derive(Default)]
struct CellTimes {
    boot: Duration,
    ran: usize,
}

pub const TIMING: &str = "timing.json";

/// `timing.json` of a run (the last invocation's, for `bench matrix`):
/// where the wall time of `cargo xtask matrix` went.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    pub total_s: f64,
    /// Kernel builds (or cache lookups), stress modules, agent, initramfs.
    pub build_s: f64,
    /// Guest boots to agent ready, summed over cells.
    pub boot_s: f64,
    /// The rest of the cells' wall time: scenarios, shutdown, evaluation.
    pub scenarios_s: f64,
    pub cells_run: usize,
}

/// Runs the cells without a verdict, boot by boot (see [`plan::boots`]):
/// correctness boots in parallel first, then timing boots one by one.
fn run_cells(setup: &Setup, cells: &[Cell], run: &RunDir) -> Result<CellTimes> {
    let todo: Vec<Cell> = cells
        .iter()
        .filter(|c| {
            let done = run.has_verdict(&c.key);
            if done {
                setup.reporter.report(&Progress::CellKept { cell: c.key.rel_dir() });
            }
            !done
        })
        .cloned()
        .collect();
    let ran = todo.len();
    let boot = Mutex::new(Duration::ZERO);
    let planned: Vec<PlannedScenario> = setup.plans.iter().map(|(p, _)| p.clone()).collect();
    let boots = plan::boots(&todo, &planned);
    let run_boot = |cells: &Vec<Cell>| -> Result<()> {
        let took = run_boot_cells(setup, run, cells)?;
        *boot.lock().unwrap_or_else(|e| e.into_inner()) += took;
        Ok(())
    };

    let cores = host_cores();
    let budget = Budget::new(cores);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cores).build().context("cannot start the cell pool")?;
    let (timing, correctness): (Vec<&Vec<Cell>>, Vec<&Vec<Cell>>) =
        boots.iter().partition(|boot| boot.first().is_some_and(|c| c.timing));
    pool.install(|| {
        correctness.par_iter().try_for_each(|cells| {
            let vcpus = cells.first().map_or(1, |c| c.key.vcpus as usize);
            let _units = budget.take(vcpus.min(cores));
            run_boot(cells)
        })
    })?;
    for cells in timing {
        run_boot(cells)?;
    }
    Ok(CellTimes { boot: boot.into_inner().unwrap_or_else(|e| e.into_inner()), ran })
}

/// Runs the cells of one planned boot until each has a verdict, and
/// returns the time spent booting. A boot that ended before its last cell
/// (a cell failed, or left the kernel changed) goes on in a fresh boot with
/// the cells it did not reach.
fn run_boot_cells(setup: &Setup, run: &RunDir, cells: &[Cell]) -> Result<Duration> {
    let mut booting = Duration::ZERO;
    let mut queue: Vec<&Cell> = cells.iter().collect();
    while !queue.is_empty() {
        let records = run_boot(setup, run, &queue)?;
        booting += records.iter().filter_map(|r| r.boot_to_ready_ms).map(|ms| Duration::from_secs_f64(ms / 1e3)).sum();
        // The cells this boot did not reach go on in the next one.
        let rest = queue.split_off(records.len());
        for cell in &rest {
            setup.reporter.report(&Progress::CellRequeued { cell: cell.key.rel_dir() });
        }
        queue = rest;
    }
    Ok(booting)
}

/// Runs `cells` (of one planned boot) in one boot, and returns what became
/// of those that ran, in order, at least one. A failure of the rig becomes
/// the INFRA verdict of every cell of the boot without one: one broken boot
/// never loses the other cells' results.
fn run_boot(setup: &Setup, run: &RunDir, cells: &[&Cell]) -> Result<Vec<RunRecord>> {
    let first = &cells.first().context("an empty boot")?.key;
    let prepared = setup.prepared.iter().find(|p| p.kernel.variant == first.variant).context("unprepared variant")?;
    let mut guest = prepared.clone();
    guest.vcpus = first.vcpus;
    let mut boot_cells = Vec::new();
    for cell in cells {
        let dir = run.cell_dir(&cell.key);
        // Leftovers of an interrupted attempt: the cell starts over.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let (_, plan) = setup.plans.iter().find(|(p, _)| p.name == cell.key.scenario).context("unplanned scenario")?;
        boot_cells.push(executor::BootCell {
            plan,
            dir,
            label: cell.key.rel_dir(),
            max_host_load: cell.timing.then_some(setup.max_host_load),
        });
    }
    let boot_dir = run.new_boot_dir(&format!("{}-{}cpu-r{}", first.variant, first.vcpus, first.rep))?;
    match executor::run_in_one_boot(&guest, &boot_cells, &boot_dir, setup.reporter) {
        Ok(runs) => Ok(runs),
        Err(error) => {
            let message = format!("{error:#}");
            let mut runs = Vec::new();
            for (cell, boot_cell) in cells.iter().zip(&boot_cells) {
                // A cell whose verdict was written before the failure keeps it.
                let record = match run.read_cell(&cell.key).ok().flatten() {
                    Some(done) => done.record,
                    None => {
                        std::fs::create_dir_all(&boot_cell.dir)?;
                        let record = infra_record(&guest, &cell.key, &boot_cell.dir, &message);
                        fsutil::write_atomic(&boot_cell.dir.join(VERDICT_FILE), &serde_json::to_vec_pretty(&record)?)?;
                        setup.reporter.report(&executor::cell_ended(cell.key.rel_dir(), &record, &boot_cell.dir));
                        record
                    }
                };
                runs.push(record);
            }
            Ok(runs)
        }
    }
}

fn infra_record(guest: &Prepared, key: &CellKey, dir: &Path, message: &str) -> RunRecord {
    RunRecord {
        schema: RUN_RECORD_SCHEMA,
        verdict: Verdict::Infra,
        reasons: vec![format!("the rig failed: {message}")],
        scenario: key.scenario.clone(),
        variant: key.variant.clone(),
        kernel_key: guest.kernel.key.clone(),
        kernel_release: guest.kernel.manifest.kernel_release.clone(),
        vcpus: key.vcpus,
        accel: guest.accel.clone(),
        end: RunEnd::RigError { message: message.to_string() },
        boot_to_init_ms: None,
        boot_to_ready_ms: None,
        wall_ms: 0.0,
        kernel_events: vec![],
        metrics: None,
        console_log: dir.join("console.log"),
        events_log: dir.join("events.jsonl"),
        host_load: None,
        boot: None,
    }
}

/// Host cores handed out to concurrent cells.
struct Budget {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Units<'a> {
    budget: &'a Budget,
    n: usize,
}

impl Budget {
    fn new(n: usize) -> Budget {
        Budget { free: Mutex::new(n), freed: Condvar::new() }
    }

    fn take(&self, n: usize) -> Units<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < n {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= n;
        Units { budget: self, n }
    }
}

impl Drop for Units<'_> {
    fn drop(&mut self) {
        *self.budget.free.lock().unwrap_or_else(|e| e.into_inner()) += self.n;
        self.budget.freed.notify_all();
    }
}
