//! Which cells a matrix run has, in which order, and which of them a shard
//! runs. Pure.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::diff::CellKey;

/// A scenario as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedScenario {
    pub name: String,
    pub file: PathBuf,
    /// It measures timing (asks for any metric but `outcomes`): its cells
    /// run alone on the host, so neighbours cannot skew the numbers.
    pub timing: bool,
    /// Boots per side.
    pub repetitions: u32,
    /// Extra kernel command line: only cells with the same one share a boot.
    pub cmdline: Vec<String>,
    /// It allows kernel-log events (a WARNING it provokes on purpose): the
    /// boot ends after it, so it runs last among the cells of its boot.
    pub ends_boot: bool,
}

/// One guest run of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub key: CellKey,
    pub timing: bool,
}

/// `--shard K/N`: the K-th (1-based) of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}`: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Every cell, ordered repetition by repetition, then scenario and vCPUs,
/// with the variants of one comparison back to back in ABBA order: the
/// baseline first in odd repetitions, the candidate first in even ones.
/// A slow drift of the host then lands on both sides alike (each pair of
/// repetitions cancels a linear trend), and an interrupted run has whole
/// comparisons rather than one side of many.
pub fn plan(variants: &[String], scenarios: &[PlannedScenario], vcpus: &[u32]) -> Vec<Cell> {
    let mut cells = Vec::new();
    let most = scenarios.iter().map(|s| s.repetitions).max().unwrap_or(0);
    for rep in 1..=most {
        let order: Vec<&String> =
            if rep % 2 == 1 { variants.iter().collect() } else { variants.iter().rev().collect() };
        for scenario in scenarios.iter().filter(|s| rep <= s.repetitions) {
            for &n in vcpus {
                for variant in &order {
                    cells.push(Cell {
                        key: CellKey { variant: (*variant).clone(), scenario: scenario.name.clone(), vcpus: n, rep },
                        timing: scenario.timing,
                    });
                }
            }
        }
    }
    cells
}

/// The boots that run `cells`, in the order they start, each with its
/// cells in the order they run one after another in it.
///
/// Cells share a boot when they have the same variant, vCPUs, repetition,
/// kernel command line and kind (timing or correctness): the boot is paid
/// once, and each cell is still a sample of its own. The boot stays the
/// unit of the statistics: one comparison never has two cells from one
/// boot, since a boot has one cell per scenario. Correctness boots start
/// first (they may share the host with each other), then the timing boots
/// one at a time, in plan order, which keeps the ABBA interleaving of the
/// two sides. Within a boot cells run in plan order, except that the ones
/// that end a boot run last.
pub fn boots(cells: &[Cell], scenarios: &[PlannedScenario]) -> Vec<Vec<Cell>> {
    let scenario = |cell: &Cell| scenarios.iter().find(|s| s.name == cell.key.scenario);
    // (timing, variant, vCPUs, repetition, command line): what a boot's cells share.
    type BootKey<'a> = (bool, &'a str, u32, u32, Vec<String>);
    let mut boots: Vec<(BootKey<'_>, Vec<Cell>)> = Vec::new();
    for cell in cells {
        let cmdline = scenario(cell).map(|s| s.cmdline.clone()).unwrap_or_default();
        let key = (cell.timing, cell.key.variant.as_str(), cell.key.vcpus, cell.key.rep, cmdline);
        match boots.iter_mut().find(|(k, _)| *k == key) {
            Some((_, boot)) => boot.push(cell.clone()),
            None => boots.push((key, vec![cell.clone()])),
        }
    }
    let (timing, correctness): (Vec<_>, Vec<_>) = boots.into_iter().partition(|((timing, ..), _)| *timing);
    correctness
        .into_iter()
        .chain(timing)
        .map(|(_, mut boot)| {
            boot.sort_by_key(|cell| scenario(cell).is_some_and(|s| s.ends_boot));
            boot
        })
        .collect()
}

/// The order cells start in: boot by boot (see [`boots`]).
pub fn run_order(cells: &[Cell], scenarios: &[PlannedScenario]) -> Vec<Cell> {
    boots(cells, scenarios).into_iter().flatten().collect()
}

/// The cells of `shard`. The unit of sharding is an ABBA block (two
/// consecutive repetitions: the baseline first in one, the candidate first
/// in the other) at one vCPU count, with every scenario and both variants
/// in it, dealt round-robin. So both sides of a comparison always run on
/// the same machine (CI machines of different speeds are never compared
/// with each other), each shard keeps the sides balanced, and the
/// scenarios that can share a boot stay together.
pub fn shard(cells: &[Cell], shard: Shard) -> Vec<Cell> {
    let mut groups: Vec<(u32, u32)> = Vec::new();
    let mut out = Vec::new();
    for cell in cells {
        let group = (cell.key.vcpus, cell.key.rep.div_ceil(2));
        let index = match groups.iter().position(|g| *g == group) {
            Some(i) => i,
            None => {
                groups.push(group);
                groups.len() - 1
            }
        };
        if index as u32 % shard.n == shard.k - 1 {
            out.push(cell.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
}
