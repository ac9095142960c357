use super::*;
use crate::classify::KernelEvent;
use crate::guest::accel::AccelDecision;
use crate::guest::qemu::Accel;
use crate::metrics::Metrics;
use crate::record::RunRecord;
use crate::verdict::RunEnd;

fn cell(variant: &str, scenario: &str, vcpus: u32, verdict: Verdict, stall_ms: &[f64]) -> CellResult {
    let metrics =
        Metrics { stall_other_cpus_ns: stall_ms.iter().map(|ms| (ms * 1e6) as u64).collect(), ..Metrics::default() };
    CellResult {
        key: CellKey { variant: variant.into(), scenario: scenario.into(), vcpus, rep: 1 },
        record: RunRecord {
            schema: 1,
            verdict,
            reasons: vec![],
            scenario: scenario.into(),
            variant: variant.into(),
            kernel_key: "k".into(),
            kernel_release: "6.12".into(),
            vcpus,
            accel: AccelDecision { accel: Accel::Tcg, how: "test".into() },
            end: RunEnd::Done,
            boot_to_init_ms: None,
            boot_to_ready_ms: None,
            wall_ms: 1000.0,
            kernel_events: vec![],
            metrics: Some(metrics),
            console_log: format!("/r/cells/{variant}/{scenario}/{vcpus}cpu-r1/console.log").into(),
            events_log: "/r/events.jsonl".into(),
            host_load: None,
            boot: None,
        },
    }
}

fn event(class: EventClass, title: &str) -> KernelEvent {
    KernelEvent {
        class,
        title: title.into(),
        excerpt: format!("[    1.0] {title}\n[    1.0] Call Trace:"),
        first_line: 10,
        last_line: 11,
        cpu: Some(1),
        pid: None,
        task: None,
    }
}

fn spread(center: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| center * (0.8 + 0.4 * i as f64 / n as f64)).collect()
}

fn run(base: &[CellResult], cand: &[CellResult], config: &DiffConfig) -> Summary {
    diff(
        &Side { label: "stop-machine".into(), cells: base.iter().collect() },
        &Side { label: "upstream".into(), cells: cand.iter().collect() },
        vec!["r".into()],
        config,
    )
}

#[test]
fn the_compared_metrics_keep_their_names_and_order() {
    // The names are in summary.json and matrix files; the order is the
    // reports' (and `metric_rank`'s).
    assert_eq!(
        Metric::compared_names(),
        [
            "stall_other_cpus",
            "stall_other_cpus_thread",
            "unload_latency",
            "load_latency",
            "refcount_ops",
            "cycles_per_sec"
        ]
    );
}

/// `boots` cells of one side, each a boot whose windows centre on
/// `center` times a wandering factor (boots differ, as real boots do).
fn boots(variant: &str, scenario: &str, vcpus: u32, center: f64, boots: u32, windows: usize) -> Vec<CellResult> {
    (1..=boots)
        .map(|rep| {
            let wander = [1.0, 1.25, 0.85, 1.1, 0.95, 1.3, 0.8, 1.15][rep as usize % 8];
            let mut c = cell(variant, scenario, vcpus, Verdict::Pass, &spread(center * wander, windows));
            c.key.rep = rep;
            c
        })
        .collect()
}

#[test]
fn a_much_smaller_stall_over_six_boots_is_an_improvement_and_the_run_is_clean() {
    let base = boots("stop-machine", "unload-noise", 4, 4.0, 6, 20);
    let cand = boots("upstream", "unload-noise", 4, 0.25, 6, 20);
    let s = run(&base, &cand, &DiffConfig::default());
    assert_eq!(s.status, Status::Clean);
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    let c = &s.comparisons[0];
    assert_eq!((c.metric.as_str(), c.change), ("stall_other_cpus", Change::Improved), "{c:?}");
    assert!((c.ratio.unwrap() - 0.0625).abs() < 1e-6, "{:?}", c.ratio);
    // The boot is the unit: six boots per side, whatever the window count,
    // and the exact rank test's floor with 6 vs 6 is 2/924.
    assert_eq!((c.baseline.boots, c.candidate.boots), (6, 6));
    assert_eq!((c.baseline.n, c.candidate.n), (120, 120));
    assert!((c.p_value.unwrap() - 2.0 / 924.0).abs() < 1e-12, "{:?}", c.p_value);
    assert_eq!(c.p_adjusted, c.p_value, "one gated comparison: Holm changes nothing");
    assert!(c.baseline.spread.unwrap() > 0.05, "the boots' spread is reported");
    assert_eq!(s.comparisons.len(), 1, "only metrics with samples are compared");
}

#[test]
fn one_boot_per_side_is_inconclusive_however_many_windows_it_has() {
    // The old diff called this improved at p < 1e-20: 100 windows of one
    // boot against 100 of another tell the boots apart, not the kernels.
    let base = [cell("stop-machine", "unload-noise", 4, Verdict::Pass, &spread(4.0, 100))];
    let cand = [cell("upstream", "unload-noise", 4, Verdict::Pass, &spread(0.25, 100))];
    let c = &run(&base, &cand, &DiffConfig::default()).comparisons[0];
    assert_eq!(c.change, Change::Inconclusive);
    assert_eq!(c.reason.as_deref(), Some("1 and 1 boots: at least 5 per side are needed to judge"));
}

#[test]
fn noisy_boots_are_left_out_and_too_few_quiet_ones_are_too_noisy_to_judge() {
    let base = boots("stop-machine", "s", 4, 1.0, 6, 10);
    let mut cand = boots("upstream", "s", 4, 3.0, 6, 10);
    for c in cand.iter_mut().take(2) {
        c.record.host_load =
            Some(crate::guest::hostload::HostLoad { other_cores: 0.9, window_s: 2.0, qemu_cores: 1.5 });
    }
    let s = run(&base, &cand, &DiffConfig::default());
    let c = &s.comparisons[0];
    assert_eq!((c.candidate.boots, c.candidate.noisy_boots), (4, 2));
    assert_eq!(c.change, Change::Inconclusive);
    assert!(c.reason.as_deref().unwrap().starts_with("host too noisy to judge: 2 boot(s) left out"), "{c:?}");
    assert_eq!(s.noisy_cells.len(), 2);
    assert_eq!(s.status, Status::Clean, "host noise is never a regression");
}

#[test]
fn a_worse_metric_is_a_regression_unless_expected() {
    let base = boots("stop-machine", "s", 2, 1.0, 6, 10);
    let cand = boots("upstream", "s", 2, 2.0, 6, 10);
    let s = run(&base, &cand, &DiffConfig::default());
    assert_eq!(s.status, Status::Regressed);
    assert!(s.comparisons[0].is_regression());
    let expected = DiffConfig {
        expected: vec![ExpectedChange {
            scenario: None,
            metric: "stall_other_cpus".into(),
            change: Change::Regressed,
            why: "because".into(),
        }],
        ..DiffConfig::default()
    };
    let s = run(&base, &cand, &expected);
    assert_eq!(s.status, Status::Clean);
    assert_eq!(s.comparisons[0].expected.as_deref(), Some("because"));
    // An expectation for another scenario does not excuse this one.
    let other = DiffConfig {
        expected: vec![ExpectedChange { scenario: Some("t".into()), ..expected.expected[0].clone() }],
        ..DiffConfig::default()
    };
    assert_eq!(run(&base, &cand, &other).status, Status::Regressed);
}

#[test]
fn holm_counts_every_gated_comparison() {
    // Thirty gated comparisons, each as separated as 6 boots can be
    // (p = 2/924 = 0.0022): Holm's first step asks for 0.05/30 = 0.0017,
    // so none of them may be called changed.
    let mut base = Vec::new();
    let mut cand = Vec::new();
    for i in 0..30 {
        let scenario = format!("s{i:02}");
        base.extend(boots("stop-machine", &scenario, 2, 1.0, 6, 5));
        cand.extend(boots("upstream", &scenario, 2, 3.0, 6, 5));
    }
    let s = run(&base, &cand, &DiffConfig::default());
    assert_eq!(s.comparisons.len(), 30);
    for c in &s.comparisons {
        assert!((c.p_adjusted.unwrap() - 30.0 * 2.0 / 924.0).abs() < 1e-9, "{:?}", c.p_adjusted);
        assert_eq!(c.change, Change::Inconclusive);
    }
    assert_eq!(s.status, Status::Clean);
}

#[test]
fn a_regression_of_a_metric_outside_the_gate_is_reported_but_does_not_fail() {
    let base = boots("stop-machine", "s", 2, 1.0, 6, 10);
    let cand = boots("upstream", "s", 2, 2.0, 6, 10);
    let gated = |gate: &[&str]| DiffConfig {
        gate: Some(gate.iter().map(|m| m.to_string()).collect()),
        ..DiffConfig::default()
    };
    let s = run(&base, &cand, &gated(&["unload_latency"]));
    assert_eq!(s.status, Status::Clean);
    assert_eq!(s.comparisons[0].change, Change::Regressed);
    assert!(!s.comparisons[0].gating && !s.comparisons[0].is_regression());
    assert_eq!(run(&base, &cand, &gated(&["stall_other_cpus"])).status, Status::Regressed);
}

#[test]
fn claims_are_checked_against_their_comparisons() {
    let mut base = boots("stop-machine", "a", 4, 4.0, 6, 10);
    base.extend(boots("stop-machine", "b", 4, 1.0, 6, 10));
    let mut cand = boots("upstream", "a", 4, 0.5, 6, 10);
    cand.extend(boots("upstream", "b", 4, 1.0, 6, 10));
    let claim = |scenarios: &[&str], change| Claim {
        says: "no more stalls".into(),
        metric: "stall_other_cpus".into(),
        change,
        scenarios: scenarios.iter().map(|s| s.to_string()).collect(),
        vcpus: vec![4],
    };
    let config = DiffConfig {
        claims: vec![
            claim(&["a"], ClaimedChange::Improved),
            claim(&["a", "b"], ClaimedChange::Improved),
            claim(&[], ClaimedChange::NotRegressed),
            claim(&["nowhere"], ClaimedChange::Improved),
        ],
        ..DiffConfig::default()
    };
    let s = run(&base, &cand, &config);
    let holds: Vec<bool> = s.claims.iter().map(|c| c.holds).collect();
    assert_eq!(holds, [true, false, true, false], "{:#?}", s.claims);
    assert_eq!(s.claims[1].rows.len(), 2);
    assert_eq!(s.claims[1].rows[0].boots, (6, 6));
    assert!(s.claims[3].rows.is_empty(), "a claim that covers nothing does not hold");
}

#[test]
fn pass_to_panic_is_a_regression_with_the_evidence_first() {
    let base = [cell("stop-machine", "s", 2, Verdict::Pass, &[]), cell("stop-machine", "t", 2, Verdict::Pass, &[])];
    let mut bad = cell("upstream", "s", 2, Verdict::Panic, &[]);
    bad.record.kernel_events = vec![event(EventClass::Bug, "kernel BUG at kernel/module/main.c:156!")];
    let cand = [bad, cell("upstream", "t", 2, Verdict::Pass, &[])];
    let s = run(&base, &cand, &DiffConfig::default());
    assert_eq!(s.status, Status::Regressed);
    assert_eq!(s.findings[0].kind, FindingKind::VerdictChanged);
    assert_eq!(s.findings[0].detail, "PASS in all 1 baseline cells, PANIC in 1 of 1 candidate cells");
    assert!(s.findings[0].excerpt.as_ref().unwrap().contains("kernel BUG at kernel/module/main.c:156!"));
    assert_eq!(s.findings[0].cell.as_deref(), Some("upstream/s/2cpu-r1"));
    assert_eq!(s.findings[1].kind, FindingKind::NewEventClass);
    assert!(s.findings[1].detail.starts_with("`bug` in the candidate, never in the baseline"));
    assert_eq!(s.findings.len(), 2);
}

#[test]
fn an_event_class_on_both_sides_is_not_new_and_fixes_are_not_regressions() {
    let mut b = cell("stop-machine", "w", 2, Verdict::Fail, &[]);
    b.record.kernel_events = vec![event(EventClass::Warning, "WARNING: CPU: 1 PID: 9 at x.c:1")];
    b.record.reasons = vec!["step 3: expected ok, got EBUSY".into()];
    let mut c = cell("upstream", "w", 2, Verdict::Pass, &[]);
    c.record.kernel_events = vec![event(EventClass::Warning, "WARNING: CPU: 0 PID: 7 at x.c:1")];
    let s = run(&[b], &[c], &DiffConfig::default());
    assert_eq!(s.status, Status::Clean);
    assert_eq!(s.findings.len(), 1);
    assert_eq!(s.findings[0].kind, FindingKind::Fixed);
}

#[test]
fn infra_cells_and_missing_sides_make_the_comparison_incomplete() {
    let base = [cell("stop-machine", "s", 2, Verdict::Pass, &[])];
    let cand = [cell("upstream", "s", 2, Verdict::Infra, &[])];
    let s = run(&base, &cand, &DiffConfig::default());
    assert_eq!(s.status, Status::Infra);
    assert_eq!(s.findings[0].kind, FindingKind::Missing);
    assert_eq!(Status::Infra.exit_code(), 13);

    let pass = [cell("upstream", "s", 2, Verdict::Pass, &[])];
    let mut s = run(&base, &pass, &DiffConfig::default());
    assert_eq!(s.status, Status::Clean);
    s.note_missing(&[CellKey { variant: "upstream".into(), scenario: "s".into(), vcpus: 4, rep: 1 }]);
    assert_eq!(s.status, Status::Infra);
    s.relativize(std::path::Path::new("/r"));
    assert_eq!(s.cells[0].console_log, PathBuf::from("cells/stop-machine/s/2cpu-r1/console.log"));
}

#[test]
fn metrics_of_failed_cells_are_left_out() {
    let base = [cell("stop-machine", "s", 2, Verdict::Pass, &spread(1.0, 20))];
    // One boot each: inconclusive anyway, but the HANG's numbers must not
    // even be counted.
    let cand = [cell("upstream", "s", 2, Verdict::Hang, &spread(9.0, 20))];
    let s = run(&base, &cand, &DiffConfig::default());
    let c = &s.comparisons[0];
    assert_eq!((c.baseline.n, c.candidate.n, c.change), (20, 0, Change::Inconclusive));
    assert_eq!(s.status, Status::Regressed, "the HANG itself is the regression");
}
