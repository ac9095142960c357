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
mod tests {
    use super::*;

    fn event(class: EventClass, title: &str) -> KernelEvent {
        KernelEvent {
            class,
            title: title.to_string(),
            excerpt: title.to_string(),
            first_line: 1,
            last_line: 1,
            cpu: None,
            pid: None,
            task: None,
        }
    }

    fn verdict(end: RunEnd, events: &[KernelEvent], broken: &[&str], allowed: &[EventClass]) -> Judgement {
        let broken: Vec<String> = broken.iter().map(|s| s.to_string()).collect();
        judge(&end, events, &broken, &allowed.iter().copied().collect())
    }

    #[test]
    fn clean_done_passes() {
        assert_eq!(verdict(RunEnd::Done, &[], &[], &[]).verdict, Verdict::Pass);
    }

    #[test]
    fn broken_expectation_or_unallowed_event_fails() {
        let j = verdict(RunEnd::Done, &[], &["step 1: unload victim: expected ok, got EBUSY"], &[]);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.reasons, ["step 1: unload victim: expected ok, got EBUSY"]);
        let warn = [event(EventClass::Warning, "WARNING: CPU: 0 PID: 1 at x.c:1")];
        let j = verdict(RunEnd::Done, &warn, &[], &[]);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.reasons, ["kernel log: warning: WARNING: CPU: 0 PID: 1 at x.c:1"]);
        assert_eq!(verdict(RunEnd::Done, &warn, &[], &[EventClass::Warning]).verdict, Verdict::Pass);
    }

    #[test]
    fn panic_outranks_hang_and_fail() {
        let events = [event(EventClass::Oops, "Oops: 0000"), event(EventClass::Panic, "Kernel panic - not syncing: x")];
        let j = verdict(RunEnd::Deadline { what: "step 0".into() }, &events, &["x"], &[]);
        assert_eq!(j.verdict, Verdict::Panic);
        assert_eq!(j.reasons, ["panic: Kernel panic - not syncing: x", "oops: Oops: 0000"]);
    }

    #[test]
    fn hangs_from_detectors_or_deadlines() {
        let hung = [event(EventClass::HungTask, "INFO: task rmmod:80 blocked for more than 10 seconds.")];
        assert_eq!(verdict(RunEnd::DetectorFired, &hung, &[], &[]).verdict, Verdict::Hang);
        let j = verdict(RunEnd::Deadline { what: "step 2 (unload) after 30 s".into() }, &[], &[], &[]);
        assert_eq!(j.verdict, Verdict::Hang);
        assert_eq!(j.reasons, ["rig deadline: step 2 (unload) after 30 s"]);
        // A stall the scenario allows, on a run that finished, is no hang.
        let stall = [event(EventClass::RcuStall, "rcu: INFO: rcu_preempt detected stalls")];
        assert_eq!(verdict(RunEnd::Done, &stall, &[], &[EventClass::RcuStall]).verdict, Verdict::Pass);
    }

    #[test]
    fn rig_trouble_is_infra() {
        let flake = [event(EventClass::TcgCodePatchingCrash, "Oops: int3"), event(EventClass::Panic, "Kernel panic")];
        assert_eq!(verdict(RunEnd::GuestExited, &flake, &[], &[]).verdict, Verdict::Infra);
        assert_eq!(verdict(RunEnd::GuestExited, &[], &[], &[]).verdict, Verdict::Infra);
        let j = verdict(RunEnd::RigError { message: "cannot start QEMU".into() }, &[], &[], &[]);
        assert_eq!((j.verdict, j.reasons), (Verdict::Infra, vec!["rig error: cannot start QEMU".to_string()]));
    }

    #[test]
    fn exit_codes_are_distinct() {
        let codes: BTreeSet<u8> = [Verdict::Pass, Verdict::Fail, Verdict::Hang, Verdict::Panic, Verdict::Infra]
            .iter()
            .map(|v| v.exit_code())
            .collect();
        assert_eq!(codes.len(), 5);
        assert_eq!(Verdict::Pass.exit_code(), 0);
    }
}
