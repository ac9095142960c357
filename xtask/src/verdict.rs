//! How a run ended, and what that means: PASS, FAIL, HANG, PANIC or INFRA.
//!
//! Pure: the runner gathers the facts (how the run ended, the kernel-log
//! events, the expectations that broke), `judge` decides. The order of the
//! checks is the order of trust: a known emulator flake is the rig's
//! problem; a panic outranks a hang (the guest is gone); a hang outranks a
//! failed expectation (the steps after it never ran).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::kernel_event::{EventClass, KernelEvent};
pub use crate::outcome::{RunEnd, Verdict};

/// Kernel-log classes that mean "the guest hangs".
pub const HANG_CLASSES: [EventClass; 4] =
    [EventClass::HungTask, EventClass::SoftLockup, EventClass::HardLockup, EventClass::RcuStall];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Why, most important first, in words a kernel developer would use.
    pub reasons: Vec<String>,
}

pub fn judge(
    end: &RunEnd,
    events: &[KernelEvent],
    broken_expectations: &[String],
    allowed: &BTreeSet<EventClass>,
) -> Judgement {
    let titles = |pred: &dyn Fn(&KernelEvent) -> bool| -> Vec<String> {
        events.iter().filter(|e| pred(e)).map(|e| format!("{}: {}", e.class.name(), e.title)).collect()
    };
    let flake = titles(&|e| e.class == EventClass::TcgCodePatchingCrash);
    if !flake.is_empty() {
        let mut reasons =
            vec!["known QEMU TCG boot flake (runtime code patching vs multi-threaded TCG), not the kernel under test"
                .to_string()];
        reasons.extend(flake);
        return Judgement { verdict: Verdict::Infra, reasons };
    }
    let panics = titles(&|e| e.class == EventClass::Panic);
    if !panics.is_empty() {
        let mut reasons = titles(&|e| matches!(e.class, EventClass::Oops | EventClass::Bug));
        reasons.splice(0..0, panics);
        return Judgement { verdict: Verdict::Panic, reasons };
    }
    let hangs = titles(&|e| HANG_CLASSES.contains(&e.class) && !allowed.contains(&e.class));
    let deadline = match end {
        RunEnd::Deadline { what } => Some(format!("rig deadline: {what}")),
        _ => None,
    };
    if !hangs.is_empty() || deadline.is_some() || *end == RunEnd::DetectorFired {
        let mut reasons = hangs;
        reasons.extend(deadline);
        return Judgement { verdict: Verdict::Hang, reasons };
    }
    match end {
        RunEnd::RigError { message } => {
            return Judgement { verdict: Verdict::Infra, reasons: vec![format!("rig error: {message}")] }
        }
        RunEnd::GuestExited => {
            return Judgement {
                verdict: Verdict::Infra,
                reasons: vec!["QEMU exited before the agent finished, with no panic on the console".to_string()],
            }
        }
        _ => {}
    }
    let mut reasons: Vec<String> = broken_expectations.to_vec();
    reasons.extend(titles(&|e| !allowed.contains(&e.class)).into_iter().map(|t| format!("kernel log: {t}")));
    if reasons.is_empty() {
        Judgement { verdict: Verdict::Pass, reasons }
    } else {
        Judgement { verdict: Verdict::Fail, reasons }
    }
}

#[cfg(test)]
mod tests;
