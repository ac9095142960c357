//! Which cells a matrix run has, in which order, and which of them a shard
//! runs. Pure.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cell::CellKey;

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
mod tests;
