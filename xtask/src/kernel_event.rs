//! A kernel report found in a guest's console: its class and where it sits.
//! Plain data: `classify` finds the events, verdict.json records them, the
//! verdict and the diff read them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of report a [`KernelEvent`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// `kernel BUG at ...` and the other `BUG:` reports that have no class of
    /// their own (`BUG: sleeping function called from invalid context`,
    /// `BUG: scheduling while atomic`, ...).
    Bug,
    /// `WARNING: CPU: N PID: N at ...`: WARN_ON() and friends.
    Warning,
    /// An Oops, including the page-fault ones that start with
    /// `BUG: kernel NULL pointer dereference` or `BUG: unable to handle ...`.
    Oops,
    /// `Kernel panic - not syncing: ...`.
    Panic,
    Kasan,
    Kfence,
    Ubsan,
    /// A lockdep splat (`WARNING: possible circular locking dependency
    /// detected`, `WARNING: suspicious RCU usage`, ...).
    Lockdep,
    HungTask,
    SoftLockup,
    HardLockup,
    RcuStall,
    /// A WARNING raised by `lib/refcount.c` (`refcount_t: underflow; ...`).
    Refcount,
    /// Not the kernel's fault: an `Oops: int3` in `sched_clock_cpu` right
    /// after `sched_clock: Marking stable`, where runtime code patching
    /// races multi-threaded TCG (see shared/DESIGN.md), and the panic that
    /// follows it.
    TcgCodePatchingCrash,
}

impl EventClass {
    pub const ALL: [EventClass; 14] = [
        EventClass::Bug,
        EventClass::Warning,
        EventClass::Oops,
        EventClass::Panic,
        EventClass::Kasan,
        EventClass::Kfence,
        EventClass::Ubsan,
        EventClass::Lockdep,
        EventClass::HungTask,
        EventClass::SoftLockup,
        EventClass::HardLockup,
        EventClass::RcuStall,
        EventClass::Refcount,
        EventClass::TcgCodePatchingCrash,
    ];

    /// The stable snake_case name used in reports and JSON (the same as its
    /// serde form).
    pub fn name(&self) -> &'static str {
        match self {
            EventClass::Bug => "bug",
            EventClass::Warning => "warning",
            EventClass::Oops => "oops",
            EventClass::Panic => "panic",
            EventClass::Kasan => "kasan",
            EventClass::Kfence => "kfence",
            EventClass::Ubsan => "ubsan",
            EventClass::Lockdep => "lockdep",
            EventClass::HungTask => "hung_task",
            EventClass::SoftLockup => "soft_lockup",
            EventClass::HardLockup => "hard_lockup",
            EventClass::RcuStall => "rcu_stall",
            EventClass::Refcount => "refcount",
            EventClass::TcgCodePatchingCrash => "tcg_code_patching_crash",
        }
    }

    /// Whether the event blames the test infrastructure rather than the
    /// kernel under test.
    pub fn is_infra(&self) -> bool {
        matches!(self, EventClass::TcgCodePatchingCrash)
    }
}

impl fmt::Display for EventClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kernel report found in a console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelEvent {
    pub class: EventClass,
    /// The report's headline without its timestamp, e.g. `WARNING: CPU: 1
    /// PID: 87 at drivers/x.c:12 foo+0x1/0x2 [mod]`; for a Refcount event
    /// the `refcount_t: ...` line, for a lockdep splat its `WARNING: ...`
    /// line, for a page-fault Oops its `BUG: ...` line.
    pub title: String,
    /// The whole report as printed (timestamps kept, line endings `\n`).
    pub excerpt: String,
    /// 1-based line numbers of the excerpt's first and last lines.
    pub first_line: usize,
    pub last_line: usize,
    /// The CPU, PID and task the report is about, when it names them.
    pub cpu: Option<u32>,
    pub pid: Option<u32>,
    pub task: Option<String>,
}
