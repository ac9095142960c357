//! The metrics: one table of their names (as scenarios' `metrics:` lists,
//! the matrix file, verdict.json and summary.json spell them), units, which
//! way is better and what they measure; and [`Metrics`], the values one run
//! measured. Plain data: the scenario language, the diff, the calibration
//! and the matrix parser all read the names from [`Metric::TABLE`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A metric the rig can gather. The declaration order is the order a
/// scenario error lists the declarable ones in (`Ord`);
/// [`Metric::TABLE`]'s is the reports'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    UnloadLatency,
    LoadLatency,
    StallOtherCpus,
    StallOtherCpusThread,
    RefcountOps,
    CyclesPerSec,
    Outcomes,
}

/// Which way a metric gets better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// One row of [`Metric::TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    pub metric: Metric,
    /// The serialized name (YAML, verdict.json, summary.json): never rename.
    pub name: &'static str,
    /// The unit the diff compares and the reports show it in.
    pub unit: &'static str,
    /// `None` for a tally, which is neither better nor worse: the diff
    /// compares exactly the metrics that have a direction.
    pub better: Option<Better>,
    /// Whether a scenario's `metrics:` list may name it. The thread stall
    /// may not: a scenario asks for `stall_other_cpus` with a sampler's
    /// `thread: true` and gets both, so the thread stall has no switch of
    /// its own.
    pub declarable: bool,
    pub description: &'static str,
}

impl Metric {
    /// Every metric, in the order reports list them.
    pub const TABLE: [MetricInfo; 7] = [
        MetricInfo {
            metric: Metric::StallOtherCpus,
            name: "stall_other_cpus",
            unit: "ms",
            better: Some(Better::Lower),
            declarable: true,
            description: "per unload window: the smallest of the other CPUs' maximum timer lateness",
        },
        MetricInfo {
            metric: Metric::StallOtherCpusThread,
            name: "stall_other_cpus_thread",
            unit: "ms",
            better: Some(Better::Lower),
            declarable: false,
            description: "the same for the stall sampler's thread lateness",
        },
        MetricInfo {
            metric: Metric::UnloadLatency,
            name: "unload_latency",
            unit: "ms",
            better: Some(Better::Lower),
            declarable: true,
            description: "`delete_module` duration, per call",
        },
        MetricInfo {
            metric: Metric::LoadLatency,
            name: "load_latency",
            unit: "ms",
            better: Some(Better::Lower),
            declarable: true,
            description: "`finit_module` duration, per call",
        },
        MetricInfo {
            metric: Metric::RefcountOps,
            name: "refcount_ops",
            unit: "ops/s/CPU",
            better: Some(Better::Higher),
            declarable: true,
            description: "try_module_get/module_put pairs per second, per CPU",
        },
        MetricInfo {
            metric: Metric::CyclesPerSec,
            name: "cycles_per_sec",
            unit: "/s",
            better: Some(Better::Higher),
            declarable: true,
            description: "successful load+unload cycles per second of the run",
        },
        MetricInfo {
            metric: Metric::Outcomes,
            name: "outcomes",
            unit: "count",
            better: None,
            declarable: true,
            description: "counts of load and unload outcomes by step and errno",
        },
    ];

    pub fn info(self) -> &'static MetricInfo {
        Metric::TABLE.iter().find(|row| row.metric == self).expect("every metric has a row in Metric::TABLE")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The metric a scenario's `metrics:` list names `name`.
    pub fn declared(name: &str) -> Option<Metric> {
        Metric::TABLE.iter().find(|row| row.declarable && row.name == name).map(|row| row.metric)
    }

    /// The names a scenario's `metrics:` list may use, in declaration order.
    pub fn declarable_names() -> Vec<&'static str> {
        let mut declarable: Vec<&MetricInfo> = Metric::TABLE.iter().filter(|row| row.declarable).collect();
        declarable.sort_by_key(|row| row.metric);
        declarable.into_iter().map(|row| row.name).collect()
    }

    /// The metrics the diff compares, in table order.
    pub fn compared() -> impl Iterator<Item = &'static MetricInfo> {
        Metric::TABLE.iter().filter(|row| row.better.is_some())
    }

    /// The names a comparison, expected change or claim may use.
    pub fn compared_names() -> Vec<&'static str> {
        Metric::compared().map(|row| row.name).collect()
    }
}

/// What a scenario's run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// `delete_module` durations, ns, in event order.
    pub unload_latency_ns: Vec<u64>,
    /// `finit_module` durations, ns, in event order.
    pub load_latency_ns: Vec<u64>,
    /// `"<step> = <outcome>"` -> count.
    pub outcomes: BTreeMap<String, u64>,
    /// Successful load+unload pairs per second of the run's span, when any.
    pub cycles_per_sec: Option<f64>,
    /// Per windowed unload: the smallest of the other CPUs' maximum timer
    /// lateness in the window (a stall that hit all of them), ns.
    pub stall_other_cpus_ns: Vec<u64>,
    /// The same for the sampler's thread lateness (with `thread: true`).
    pub stall_other_cpus_thread_ns: Vec<u64>,
    /// Per hammer run: (cpu, get/put pairs per second).
    pub refcount_ops_per_sec: Vec<(u32, u64)>,
}

impl Metrics {
    /// The samples of a compared metric, in the table's unit (durations
    /// are recorded in ns and compared in ms).
    pub fn samples(&self, metric: Metric) -> Vec<f64> {
        let ms = |ns: &[u64]| -> Vec<f64> { ns.iter().map(|&v| v as f64 / 1e6).collect() };
        match metric {
            Metric::StallOtherCpus => ms(&self.stall_other_cpus_ns),
            Metric::StallOtherCpusThread => ms(&self.stall_other_cpus_thread_ns),
            Metric::UnloadLatency => ms(&self.unload_latency_ns),
            Metric::LoadLatency => ms(&self.load_latency_ns),
            Metric::RefcountOps => self.refcount_ops_per_sec.iter().map(|&(_, ops)| ops as f64).collect(),
            Metric::CyclesPerSec => self.cycles_per_sec.into_iter().collect(),
            // A tally by outcome has no samples to compare.
            Metric::Outcomes => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_one_row_and_a_unique_name() {
        for row in &Metric::TABLE {
            assert_eq!(Metric::TABLE.iter().filter(|r| r.metric == row.metric).count(), 1, "{}", row.name);
            assert_eq!(Metric::TABLE.iter().filter(|r| r.name == row.name).count(), 1, "{}", row.name);
            assert!(!row.description.is_empty() && !row.unit.is_empty(), "{}", row.name);
        }
    }

    #[test]
    fn scenarios_declare_six_names_in_a_fixed_order() {
        // Scenario files name these; the order is that of the error for an
        // unknown one (fixtures/scenarios/broken/semantic.expected).
        assert_eq!(
            Metric::declarable_names(),
            ["unload_latency", "load_latency", "stall_other_cpus", "refcount_ops", "cycles_per_sec", "outcomes"]
        );
        assert_eq!(Metric::declared("stall_other_cpus_thread"), None);
        assert_eq!(Metric::declared("outcomes"), Some(Metric::Outcomes));
    }
}
