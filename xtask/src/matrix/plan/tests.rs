use super::*;

fn scenarios_with(repetitions: u32) -> Vec<PlannedScenario> {
    ["a", "b", "c"]
        .iter()
        .map(|n| PlannedScenario {
            name: n.to_string(),
            file: format!("{n}.yaml").into(),
            timing: *n != "c",
            repetitions,
            cmdline: vec![],
            ends_boot: false,
        })
        .collect()
}

fn scenarios() -> Vec<PlannedScenario> {
    scenarios_with(2)
}

#[test]
fn plan_interleaves_variants_within_a_comparison() {
    let cells = plan(&["base".into(), "cand".into()], &scenarios(), &[2, 4]);
    assert_eq!(cells.len(), 3 * 2 * 2 * 2);
    let names: Vec<String> = cells.iter().take(4).map(|c| c.key.rel_dir()).collect();
    assert_eq!(names, ["base/a/2cpu-r1", "cand/a/2cpu-r1", "base/a/4cpu-r1", "cand/a/4cpu-r1"]);
    assert!(cells.iter().all(|c| c.timing == (c.key.scenario != "c")));
    // The second repetition starts with the candidate: ABBA.
    let second: Vec<String> = cells.iter().skip(12).take(2).map(|c| c.key.rel_dir()).collect();
    assert_eq!(second, ["cand/a/2cpu-r2", "base/a/2cpu-r2"]);
}

#[test]
fn abba_order_puts_each_side_first_equally_often() {
    let cells = plan(&["base".into(), "cand".into()], &scenarios_with(6), &[4]);
    let timing: Vec<Cell> = run_order(&cells, &scenarios_with(6)).into_iter().filter(|c| c.timing).collect();
    for scenario in ["a", "b"] {
        let sequence: String = timing
            .iter()
            .filter(|c| c.key.scenario == scenario)
            .map(|c| if c.key.variant == "base" { 'A' } else { 'B' })
            .collect();
        assert_eq!(sequence, "ABBAABBAABBA", "{scenario}");
    }
    // Correctness cells start first, timing cells after them.
    let order = run_order(&cells, &scenarios_with(6));
    let first_timing = order.iter().position(|c| c.timing).unwrap();
    assert!(order[..first_timing].iter().all(|c| !c.timing));
    assert!(order[first_timing..].iter().all(|c| c.timing));
}

#[test]
fn cells_of_one_side_repetition_and_command_line_share_a_boot() {
    let mut scenarios = scenarios_with(2);
    scenarios.push(PlannedScenario {
        name: "warns".into(),
        file: "warns.yaml".into(),
        timing: true,
        repetitions: 2,
        cmdline: vec![],
        ends_boot: true,
    });
    scenarios.push(PlannedScenario {
        name: "expedited".into(),
        file: "expedited.yaml".into(),
        timing: true,
        repetitions: 1,
        cmdline: vec!["rcupdate.rcu_expedited=1".into()],
        ends_boot: false,
    });
    // "warns" comes first in the file but ends its boot: it runs last.
    scenarios.rotate_right(2);
    let cells = plan(&["base".into(), "cand".into()], &scenarios, &[2]);
    let boots = boots(&cells, &scenarios);
    let names: Vec<Vec<String>> = boots.iter().map(|boot| boot.iter().map(|c| c.key.rel_dir()).collect()).collect();
    assert_eq!(
        names,
        [
            // Correctness boots first.
            vec!["base/c/2cpu-r1"],
            vec!["cand/c/2cpu-r1"],
            vec!["cand/c/2cpu-r2"],
            vec!["base/c/2cpu-r2"],
            // Timing boots in ABBA order, the ones that end a boot last
            // in each, and the other command line in boots of its own.
            vec!["base/a/2cpu-r1", "base/b/2cpu-r1", "base/warns/2cpu-r1"],
            vec!["cand/a/2cpu-r1", "cand/b/2cpu-r1", "cand/warns/2cpu-r1"],
            vec!["base/expedited/2cpu-r1"],
            vec!["cand/expedited/2cpu-r1"],
            vec!["cand/a/2cpu-r2", "cand/b/2cpu-r2", "cand/warns/2cpu-r2"],
            vec!["base/a/2cpu-r2", "base/b/2cpu-r2", "base/warns/2cpu-r2"],
        ]
    );
    // Every cell runs exactly once, and no boot holds two cells of one comparison.
    let mut all: Vec<String> = names.concat();
    all.sort();
    let mut planned: Vec<String> = cells.iter().map(|c| c.key.rel_dir()).collect();
    planned.sort();
    assert_eq!(all, planned);
    for boot in &boots {
        let mut scenarios: Vec<&str> = boot.iter().map(|c| c.key.scenario.as_str()).collect();
        scenarios.dedup();
        assert_eq!(scenarios.len(), boot.len());
    }
}

#[test]
fn shards_partition_the_cells_and_keep_comparisons_together() {
    let mut scenarios = scenarios_with(3);
    scenarios[2].repetitions = 1;
    let cells = plan(&["base".into(), "cand".into()], &scenarios, &[2, 4]);
    assert_eq!(cells.len(), (2 * 3 + 1) * 2 * 2, "a scenario's own repetitions count");
    for n in 1..=5 {
        let mut seen = Vec::new();
        for k in 1..=n {
            let part = shard(&cells, Shard { k, n });
            for pair in part.chunks(2) {
                assert_eq!(pair[0].key.scenario, pair[1].key.scenario);
                let block = |c: &&Cell| {
                    (c.key.vcpus, c.key.rep.div_ceil(2)) == (pair[0].key.vcpus, pair[0].key.rep.div_ceil(2))
                };
                assert_eq!(
                    part.iter().filter(block).count(),
                    cells.iter().filter(block).count(),
                    "an ABBA block at one vCPU count stays whole"
                );
                assert_eq!((pair[0].key.vcpus, pair[0].key.rep), (pair[1].key.vcpus, pair[1].key.rep));
                assert_ne!(pair[0].key.variant, pair[1].key.variant);
            }
            seen.extend(part);
        }
        seen.sort_by(|a, b| a.key.cmp(&b.key));
        let mut all = cells.clone();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(seen, all, "shards of {n} must cover every cell exactly once");
    }
    // Deterministic: the same slice every time.
    assert_eq!(shard(&cells, Shard { k: 2, n: 3 }), shard(&cells, Shard { k: 2, n: 3 }));
}

#[test]
fn shard_syntax() {
    assert_eq!("2/4".parse::<Shard>(), Ok(Shard { k: 2, n: 4 }));
    for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
        let err = bad.parse::<Shard>().unwrap_err();
        assert!(err.contains("expected K/N"), "{bad}: {err}");
    }
}
