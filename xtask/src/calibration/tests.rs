use super::*;
use crate::diff::CellKey;
use crate::guest::accel::AccelDecision;
use crate::guest::qemu::Accel;
use crate::record::RunRecord;
use crate::scenario::compile::Metrics;
use crate::verdict::{RunEnd, Verdict};

fn cell(variant: &str, rep: u32, center_ms: f64) -> CellResult {
    let stall: Vec<u64> = (0..20).map(|i| ((center_ms * (0.9 + 0.01 * i as f64)) * 1e6) as u64).collect();
    CellResult {
        key: CellKey { variant: variant.into(), scenario: "unload-noise".into(), vcpus: 4, rep },
        record: RunRecord {
            schema: 1,
            verdict: Verdict::Pass,
            reasons: vec![],
            scenario: "unload-noise".into(),
            variant: variant.into(),
            kernel_key: "k".into(),
            kernel_release: "6.12".into(),
            vcpus: 4,
            accel: AccelDecision { accel: Accel::Tcg, how: "test".into() },
            end: RunEnd::Done,
            boot_to_init_ms: None,
            boot_to_ready_ms: None,
            wall_ms: 1000.0,
            kernel_events: vec![],
            metrics: Some(Metrics { stall_other_cpus_ns: stall, ..Metrics::default() }),
            console_log: "/r/console.log".into(),
            events_log: "/r/events.jsonl".into(),
            host_load: None,
            boot: None,
        },
    }
}

/// Boot medians that wander (as boots do) but are the same kernel on
/// both sides: 1.0, 1.3, 0.8, ... ms.
fn wandering(rep: u32) -> f64 {
    [1.0, 1.3, 0.8, 1.1, 0.9, 1.5, 0.7, 1.2][(rep as usize * 3) % 8]
}

#[test]
fn blocks_are_self_comparisons_and_a_wandering_kernel_raises_no_alarm() {
    let mut cells = Vec::new();
    for rep in 1..=18 {
        cells.push(cell("a", rep, wandering(rep)));
        cells.push(cell("b", rep, wandering(rep + 1)));
    }
    let cal = analyse(&cells, "a", "b", 6, &DiffConfig::default());
    assert_eq!(cal.blocks, 3);
    assert_eq!(cal.rows.len(), 1);
    let row = &cal.rows[0];
    assert_eq!((row.boots, row.judged), (36, 3));
    assert_eq!(cal.false_alarms, 0, "{cal:?}");
    assert!(cal.passes());
    // The boots spread by tens of percent, and it shows.
    let cv = row.between_boot_cv.unwrap();
    assert!(cv > 0.1 && cv < 0.5, "{cv}");
    assert!(row.detectable_ratio.unwrap() > 1.2, "{row:?}");
    assert!(cal.markdown().contains("| unload-noise | 4 | stall_other_cpus | yes | 36 |"), "{}", cal.markdown());
}

#[test]
fn a_real_difference_between_the_names_is_counted_as_a_false_alarm() {
    // Not an A/A run at all (b is 5x slower): the calibration must see
    // the alarms rather than average them away.
    let mut cells = Vec::new();
    for rep in 1..=12 {
        cells.push(cell("a", rep, wandering(rep)));
        cells.push(cell("b", rep, 5.0 * wandering(rep)));
    }
    let cal = analyse(&cells, "a", "b", 6, &DiffConfig::default());
    assert_eq!((cal.blocks, cal.false_alarms, cal.gating_false_alarms, cal.regressed_blocks), (2, 2, 2, 2));
    assert!(!cal.passes());
    assert!(cal.markdown().contains("NOT within the rig's promise"));
}
