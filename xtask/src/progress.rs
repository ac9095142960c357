//! What the long commands (`run`, `matrix`, `calibrate`, `bisect`, `bench`)
//! report while they work, as typed events. The code that does the work
//! only emits [`Progress`] events to a [`Reporter`]; the reporters in
//! `reporter` decide how they look (bars on a terminal, plain lines in a
//! CI log, JSON lines for programs). The split is nextest's runner and
//! reporter.
//!
//! Names: a boot is labelled `<variant>-<N>cpu-r<R>` (as its directory under
//! `boots/`), a cell by its directory `<variant>/<scenario>/<N>cpu-r<R>`.

use std::path::PathBuf;

use serde::Serialize;

use crate::record::RunRecord;
use crate::verdict::Verdict;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// A matrix run begins: what it holds and where its results go.
    MatrixStarted {
        cells: usize,
        baseline: String,
        candidate: String,
        scenarios: usize,
        vcpus: Vec<u32>,
        boots_per_side: u32,
        shard: Option<String>,
        accel: String,
        run_dir: PathBuf,
    },
    /// QEMU was started for a boot.
    BootStarted { boot: String, vcpus: u32, accel: String },
    /// The boot's agent said Ready.
    BootReady { boot: String, ms: f64 },
    /// A cell begins (in the boot named).
    CellStarted { boot: String, cell: String },
    /// The agent reached a step of the running program for the first time
    /// (steps are numbered in the program's pre-order, as in `events.jsonl`).
    Step { boot: String, step: usize, what: String },
    /// The console showed a kernel hang detector's report (hung task, soft
    /// lockup, RCU stall) or a panic; the run ends after a grace period.
    DetectorFired { boot: String, what: String },
    /// A sysrq dump was asked of a hung guest before it is killed.
    SysrqSent { boot: String, key: char, what: String },
    /// A passing timing cell ran while other host processes used more CPU
    /// than the matrix allows: it runs again in the same boot.
    CellRetried { cell: String, other_cores: f64 },
    /// A cell ended with its verdict; `reason` is the first of its reasons.
    CellEnded { cell: String, verdict: Verdict, seconds: f64, reason: Option<String>, dir: PathBuf },
    /// A cell the boot did not reach: it waits for the next boot.
    CellRequeued { cell: String },
    /// A resumed matrix run keeps a cell that finished before.
    CellKept { cell: String },
    /// `run` is done: the record it wrote as `verdict.json`.
    RunFinished { record: Box<RunRecord> },
    /// A matrix run's cells are done.
    MatrixFinished { seconds: f64, build_seconds: f64, boot_seconds: f64, scenario_seconds: f64 },
    /// A run's reports were written: the diff's status (`clean`,
    /// `regressed`, `infra`) and the command's exit code for it.
    Reported { run_dir: PathBuf, status: String, exit_code: u8, reports: Vec<PathBuf> },
}

/// Where events go. Reporters are shared by the threads of a matrix's
/// parallel boots.
pub trait Reporter: Sync {
    fn report(&self, event: &Progress);
}

/// Drops every event: for guests nobody watches (the accelerator probe).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: &Progress) {}
}
