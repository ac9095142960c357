//! What a comparison is configured with, as the matrix file writes it and
//! summary.json records it: the thresholds, the changes the author expects,
//! the gated metrics and the claims. Plain data: `stats` and `diff` judge
//! with it, `matrix` validates it.

use serde::{Deserialize, Serialize};

/// What changed from baseline to candidate for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Improved,
    Regressed,
    Unchanged,
    Inconclusive,
}

/// When a difference counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Family-wise significance level: the Holm-adjusted p-value of the
    /// per-boot rank test must be below it (0.05: across all gated
    /// comparisons together, a 5 % chance of any false verdict).
    pub alpha: f64,
    /// The smallest relative change of the median that matters (0.10: 10 %).
    pub min_effect: f64,
    /// Fewer PASS boots than this on either side is inconclusive: with few
    /// boots the rank test cannot reach significance (see `stats::min_p_value`)
    /// and the between-boot spread is unknown.
    pub min_boots: usize,
    /// The most CPU, in host cores, that other processes may use during a
    /// timing boot before that boot counts as noisy and is left out of the
    /// statistics (0.25: a quarter of a core).
    pub max_host_load: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { alpha: 0.05, min_effect: 0.10, min_boots: 5, max_host_load: 0.25 }
    }
}

/// A change the matrix author expects and has explained: reported as
/// expected, never as a regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedChange {
    /// A scenario name; absent: every scenario.
    #[serde(default)]
    pub scenario: Option<String>,
    /// A metric name as reported (e.g. `unload_latency`).
    pub metric: String,
    pub change: Change,
    /// Why, in a sentence: shown next to the number.
    pub why: String,
}

/// Everything a comparison is configured with (the matrix file's part).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffConfig {
    pub thresholds: Thresholds,
    pub expected: Vec<ExpectedChange>,
    /// The metrics whose regressions fail the comparison; `None`: all.
    /// The others are still measured, judged and reported.
    #[serde(default)]
    pub gate: Option<Vec<String>>,
    /// What the change under test claims; the reports open with these.
    #[serde(default)]
    pub claims: Vec<Claim>,
}

/// What a claim says will happen to a metric, as a matrix file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimedChange {
    Improved,
    Regressed,
    Unchanged,
    /// Improved, unchanged or inconclusive: anything but a regression.
    NotRegressed,
}

impl ClaimedChange {
    pub fn holds(self, change: Change) -> bool {
        match self {
            ClaimedChange::Improved => change == Change::Improved,
            ClaimedChange::Regressed => change == Change::Regressed,
            ClaimedChange::Unchanged => change == Change::Unchanged,
            ClaimedChange::NotRegressed => change != Change::Regressed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ClaimedChange::Improved => "improved",
            ClaimedChange::Regressed => "regressed",
            ClaimedChange::Unchanged => "unchanged",
            ClaimedChange::NotRegressed => "not regressed",
        }
    }
}

/// A claim of the change under test (the series' cover letter, or the
/// matrix author's): the report opens with whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The claim in the author's words.
    pub says: String,
    pub metric: String,
    pub change: ClaimedChange,
    /// Scenario names; empty: every scenario that measures the metric.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// vCPU counts; empty: all.
    #[serde(default)]
    pub vcpus: Vec<u32>,
}
