//! A run's outcome as verdict.json records it: how the run stopped
//! ([`RunEnd`]) and the verdict ([`Verdict`]: PASS, FAIL, HANG, PANIC or
//! INFRA). Plain data: `verdict::judge` decides the verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What one run found; also the exit code of `cargo xtask run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Hang,
    Panic,
    Infra,
}

impl Verdict {
    /// The process exit code of `cargo xtask run` for this verdict.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 10,
            Verdict::Hang => 11,
            Verdict::Panic => 12,
            Verdict::Infra => 13,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Hang => "HANG",
            Verdict::Panic => "PANIC",
            Verdict::Infra => "INFRA",
        };
        f.write_str(name)
    }
}

/// How the run stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum RunEnd {
    /// The agent ran every step and said so.
    Done,
    /// One of the guest's hang detectors reported (the rig then asked for
    /// sysrq dumps and stopped the guest).
    DetectorFired,
    /// A deadline of the rig passed (`what` says which).
    Deadline { what: String },
    /// QEMU exited before the agent was done.
    GuestExited,
    /// The rig failed, not the kernel.
    RigError { message: String },
}
