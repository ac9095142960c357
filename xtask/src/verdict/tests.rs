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
