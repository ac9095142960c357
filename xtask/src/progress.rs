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

use std::fmt;

use serde::Serialize;

use crate::outcome::Verdict;
use crate::record::RunRecord;

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
    /// A kernel build's progress (serialized as the build event itself:
    /// `stage`, `compiled`, `cache_hit`, `built`, `failed`).
    #[serde(skip_serializing)]
    Build(BuildEvent),
    /// A bisect step begins: the commit it tests, and how many are left
    /// (`None` while the endpoints are checked).
    BisectStepStarted { step: u32, commit: String, subject: String, phase: String, left: Option<u32> },
    /// A bisect step ended: `good`, `bad`, `skip` or `abort`, and why.
    BisectStepEnded { step: u32, commit: String, mark: String, reason: String },
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

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BuildEvent {
    /// A step of the build began (hashing, importing, patching, configuring,
    /// compiling, exporting, building modules).
    Stage { variant: String, stage: String },
    /// Kbuild compiled another object; `estimate` is the object count of the
    /// last full build in this build directory, when known.
    Compiled { variant: String, objects: u64, estimate: Option<u64>, last: String },
    /// The variant's kernel and modules were already in the cache.
    CacheHit { variant: String, key: String, seconds: f64, artifacts: PathBuf },
    /// The kernel was built (or only its stress modules, when
    /// `objects_compiled` is 0 and `kernel_cached` is true).
    Built {
        variant: String,
        key: String,
        seconds: f64,
        kernel_cached: bool,
        objects_compiled: u64,
        artifacts: PathBuf,
        log: PathBuf,
    },
    /// The build failed; `part` says what failed when the failure is typed
    /// (see `kernel::failure`), and `log` is that part's build log.
    Failed { variant: String, part: Option<BuildPart>, log: Option<PathBuf> },
}

/// The part that could not be built. The first two come from the kernel
/// source being built; the last two are the rig's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildPart {
    /// The kernel tree: applying its patches, configuring it (including a
    /// requested option Kconfig dropped), compiling it, or exporting its
    /// module build tree.
    Kernel,
    /// The stress modules (`guests/modules`), compiled against the kernel
    /// tree that was just built.
    StressModules,
    /// A module directory of the user's (`modules:` in the matrix file, or
    /// `--modules`), compiled against the kernel tree: their code, not the
    /// kernel's or the rig's.
    UserModules,
    /// The guest agent (`guests/agent`), a static binary cargo builds.
    Agent,
    /// The initramfs: busybox, the agent and the stress modules in one archive.
    Initramfs,
}

/// What failed, as a user reads it.
impl fmt::Display for BuildPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildPart::Kernel => "the kernel tree did not configure or build",
            BuildPart::StressModules => "the stress modules (guests/modules) did not build against the kernel tree",
            BuildPart::UserModules => "your module directory did not build against the kernel tree",
            BuildPart::Agent => "the rig could not build its guest agent (guests/agent)",
            BuildPart::Initramfs => "the rig could not build the guest's initramfs",
        })
    }
}
