//! The diff: a baseline's cells against a candidate's, per scenario × vCPUs
//! × metric, into a [`Summary`] that every report format renders.
//!
//! Pure: finished cells in (read from disk by `results`), a summary out.
//! The summary is also `summary.json`, so its types are the file's schema
//! (documented in `docs/summary-schema.md`; bump [`SUMMARY_SCHEMA`] on any
//! incompatible change).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::classify::EventClass;
use crate::guest::verdict::Verdict;
use crate::run::RunRecord;
use crate::scenario::compile::Metrics;
use crate::stats::{self, Change, Thresholds};

pub const SUMMARY_SCHEMA: u32 = 1;

/// Bootstrap rounds for the ratio interval: enough for a stable 95 %
/// interval, cheap next to a guest boot.
const BOOTSTRAP_ROUNDS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 0x6d6f_6472_6967;

/// Where a cell sits in the matrix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub variant: String,
    pub scenario: String,
    pub vcpus: u32,
    /// 1-based repetition.
    pub rep: u32,
}

impl CellKey {
    /// The cell's directory under a run's `cells/`, and its name in reports.
    pub fn rel_dir(&self) -> String {
        format!("{}/{}/{}cpu-r{}", self.variant, self.scenario, self.vcpus, self.rep)
    }
}

/// A finished cell: its place and its `verdict.json`.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub key: CellKey,
    pub record: RunRecord,
}

/// One side of a comparison: a label for the reader and its cells.
#[derive(Debug, Clone)]
pub struct Side<'a> {
    /// The variant name, or `run-id:variant` when comparing two runs.
    pub label: String,
    pub cells: Vec<&'a CellResult>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffConfig {
    pub thresholds: Thresholds,
    pub expected: Vec<ExpectedChange>,
    /// The metrics whose regressions fail the comparison; `None`: all.
    /// The others are still measured, judged and reported.
    #[serde(default)]
    pub gate: Option<Vec<String>>,
}

/// The comparison of two sides, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: u32,
    pub baseline: String,
    pub candidate: String,
    /// The run ids the cells came from.
    pub runs: Vec<String>,
    pub thresholds: Thresholds,
    pub status: Status,
    /// Correctness regressions (always listed first), then the metric
    /// regressions are among `comparisons` with `change: regressed`.
    pub findings: Vec<Finding>,
    /// Per scenario × vCPUs × metric, sorted: regressions first, then
    /// improvements, inconclusive, unchanged; then by scenario, vCPUs, metric.
    pub comparisons: Vec<Comparison>,
    /// Every cell of both sides, in key order.
    pub cells: Vec<CellSummary>,
}

/// The candidate's overall state, which is also the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No regression and every cell produced a verdict of the kernel.
    Clean,
    /// At least one correctness or metric regression (expected changes excluded).
    Regressed,
    /// No regression found, but some cells ended INFRA (or are missing), so
    /// the comparison is incomplete.
    Infra,
}

impl Status {
    /// Exit codes of `matrix`, `report` and `diff` (README, "Exit codes").
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Regressed => 20,
            Status::Infra => Verdict::Infra.exit_code(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// PASS in every baseline cell, something else in a candidate cell.
    VerdictChanged,
    /// A kernel-log event class the candidate printed and the baseline never did.
    NewEventClass,
    /// Not a regression: failing in the baseline, passing in the candidate.
    Fixed,
    /// Not a regression: the same non-PASS verdict on both sides.
    FailsOnBoth,
    /// A scenario × vCPUs that only one side ran, or that ended INFRA.
    Missing,
}

impl FindingKind {
    pub fn is_regression(self) -> bool {
        matches!(self, FindingKind::VerdictChanged | FindingKind::NewEventClass)
    }
}

/// A correctness difference, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub scenario: String,
    pub vcpus: u32,
    /// One line: what changed.
    pub detail: String,
    /// The convicting cell (`variant/scenario/NcpU-rR`), its console log and
    /// the kernel report or the verdict's reason that convicts it.
    pub cell: Option<String>,
    pub console_log: Option<PathBuf>,
    pub excerpt: Option<String>,
}

/// A metric's samples on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub n: usize,
    pub median: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Every sample, in the metric's unit (for plots and re-analysis).
    pub samples: Vec<f64>,
}

impl Distribution {
    pub fn of(samples: Vec<f64>) -> Distribution {
        Distribution {
            n: samples.len(),
            median: stats::median(&samples),
            p99: stats::percentile(&samples, 99.0),
            max: samples.iter().copied().reduce(f64::max),
            samples,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub scenario: String,
    pub vcpus: u32,
    pub metric: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub baseline: Distribution,
    pub candidate: Distribution,
    /// median(candidate) / median(baseline).
    pub ratio: Option<f64>,
    /// Bootstrap 95 % interval of the ratio.
    pub ci95: Option<(f64, f64)>,
    /// Two-sided Mann–Whitney U p-value.
    pub p_value: Option<f64>,
    pub change: Change,
    /// The matrix's explanation when this change was expected.
    pub expected: Option<String>,
    /// Whether a regression of this metric fails the comparison (the
    /// matrix's `gate:`); a regression that does not is reported as such.
    pub gating: bool,
}

impl Comparison {
    /// A regression that counts against the candidate.
    pub fn is_regression(&self) -> bool {
        self.change == Change::Regressed && self.expected.is_none() && self.gating
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    pub key: CellKey,
    pub side: String,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub wall_ms: f64,
    pub event_classes: Vec<EventClass>,
    pub console_log: PathBuf,
}

/// A metric the rig can compare: how to read it from a record, its unit,
/// and which way is better.
struct MetricDef {
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    samples: fn(&Metrics) -> Vec<f64>,
}

fn ms(ns: &[u64]) -> Vec<f64> {
    ns.iter().map(|&v| v as f64 / 1e6).collect()
}

const METRICS: [MetricDef; 6] = [
    MetricDef {
        name: "stall_other_cpus",
        unit: "ms",
        higher_is_better: false,
        samples: |m| ms(&m.stall_other_cpus_ns),
    },
    MetricDef {
        name: "stall_other_cpus_thread",
        unit: "ms",
        higher_is_better: false,
        samples: |m| ms(&m.stall_other_cpus_thread_ns),
    },
    MetricDef { name: "unload_latency", unit: "ms", higher_is_better: false, samples: |m| ms(&m.unload_latency_ns) },
    MetricDef { name: "load_latency", unit: "ms", higher_is_better: false, samples: |m| ms(&m.load_latency_ns) },
    MetricDef {
        name: "refcount_ops",
        unit: "ops/s/CPU",
        higher_is_better: true,
        samples: |m| m.refcount_ops_per_sec.iter().map(|&(_, ops)| ops as f64).collect(),
    },
    MetricDef {
        name: "cycles_per_sec",
        unit: "/s",
        higher_is_better: true,
        samples: |m| m.cycles_per_sec.into_iter().collect(),
    },
];

/// Every metric name a comparison can have (for validating the matrix file).
pub const METRIC_NAMES: [&str; 6] =
    ["stall_other_cpus", "stall_other_cpus_thread", "unload_latency", "load_latency", "refcount_ops", "cycles_per_sec"];

/// The baseline's and the candidate's cells of one scenario × vCPUs.
type Pair<'a> = (Vec<&'a CellResult>, Vec<&'a CellResult>);

/// Compares `candidate` with `baseline`.
pub fn diff(baseline: &Side<'_>, candidate: &Side<'_>, runs: Vec<String>, config: &DiffConfig) -> Summary {
    let mut groups: BTreeMap<(String, u32), Pair<'_>> = BTreeMap::new();
    for cell in &baseline.cells {
        groups.entry((cell.key.scenario.clone(), cell.key.vcpus)).or_default().0.push(cell);
    }
    for cell in &candidate.cells {
        groups.entry((cell.key.scenario.clone(), cell.key.vcpus)).or_default().1.push(cell);
    }

    let mut findings = Vec::new();
    let mut comparisons = Vec::new();
    for ((scenario, vcpus), (base, cand)) in &groups {
        findings.extend(correctness(scenario, *vcpus, base, cand));
        let (base_metrics, cand_metrics) = (finished(base), finished(cand));
        for def in &METRICS {
            let pool = |ms: &[&Metrics]| -> Vec<f64> { ms.iter().flat_map(|m| (def.samples)(m)).collect() };
            let (b, c) = (pool(&base_metrics), pool(&cand_metrics));
            if b.is_empty() && c.is_empty() {
                continue;
            }
            comparisons.push(compare(scenario, *vcpus, def, b, c, config));
        }
    }
    findings.sort_by_key(|f| (!f.kind.is_regression(), f.kind, f.scenario.clone(), f.vcpus));
    comparisons.sort_by_key(|c| (change_rank(c), c.scenario.clone(), c.vcpus, metric_rank(&c.metric)));

    let regressed =
        findings.iter().any(|f| f.kind.is_regression()) || comparisons.iter().any(Comparison::is_regression);
    let incomplete = findings.iter().any(|f| f.kind == FindingKind::Missing)
        || baseline.cells.iter().chain(&candidate.cells).any(|c| c.record.verdict == Verdict::Infra);
    let status = if regressed {
        Status::Regressed
    } else if incomplete {
        Status::Infra
    } else {
        Status::Clean
    };

    let mut cells: Vec<CellSummary> = Vec::new();
    for (side, list) in [(&baseline.label, &baseline.cells), (&candidate.label, &candidate.cells)] {
        for cell in list {
            cells.push(CellSummary {
                key: cell.key.clone(),
                side: side.clone(),
                verdict: cell.record.verdict,
                reasons: cell.record.reasons.clone(),
                wall_ms: cell.record.wall_ms,
                event_classes: classes(cell).into_iter().collect(),
                console_log: cell.record.console_log.clone(),
            });
        }
    }
    cells.sort_by(|a, b| a.key.cmp(&b.key).then(a.side.cmp(&b.side)));

    Summary {
        schema: SUMMARY_SCHEMA,
        baseline: baseline.label.clone(),
        candidate: candidate.label.clone(),
        runs,
        thresholds: config.thresholds,
        status,
        findings,
        comparisons,
        cells,
    }
}

/// Metrics only from cells the kernel finished: a crashed run's partial
/// numbers would compare a different experiment.
fn finished<'a>(cells: &[&'a CellResult]) -> Vec<&'a Metrics> {
    cells.iter().filter(|c| c.record.verdict == Verdict::Pass).filter_map(|c| c.record.metrics.as_ref()).collect()
}

impl Summary {
    /// Records planned cells that never finished (an interrupted run, a
    /// shard not merged in): the comparison is then incomplete.
    pub fn note_missing(&mut self, missing: &[CellKey]) {
        for key in missing {
            self.findings.push(Finding {
                kind: FindingKind::Missing,
                scenario: key.scenario.clone(),
                vcpus: key.vcpus,
                detail: format!(
                    "cell {} has no verdict (not run, or interrupted): finish it with --resume",
                    key.rel_dir()
                ),
                cell: Some(key.rel_dir()),
                console_log: None,
                excerpt: None,
            });
        }
        if !missing.is_empty() && self.status == Status::Clean {
            self.status = Status::Infra;
        }
    }

    /// Makes log paths relative to `base` (where the reports are written),
    /// so a run directory can be moved or published as a whole.
    pub fn relativize(&mut self, base: &std::path::Path) {
        let rel = |p: &mut PathBuf| {
            if let Ok(stripped) = p.strip_prefix(base) {
                *p = stripped.to_path_buf();
            }
        };
        for cell in &mut self.cells {
            rel(&mut cell.console_log);
        }
        for finding in &mut self.findings {
            if let Some(p) = &mut finding.console_log {
                rel(p);
            }
        }
    }
}

fn change_rank(c: &Comparison) -> u8 {
    match (c.change, c.expected.is_some()) {
        (Change::Regressed, false) if c.gating => 0,
        (Change::Regressed, false) => 2,
        (Change::Improved, _) => 1,
        (Change::Regressed, true) => 2,
        (Change::Inconclusive, _) => 3,
        (Change::Unchanged, _) => 4,
    }
}

fn metric_rank(name: &str) -> usize {
    METRICS.iter().position(|d| d.name == name).unwrap_or(usize::MAX)
}

fn compare(scenario: &str, vcpus: u32, def: &MetricDef, b: Vec<f64>, c: Vec<f64>, config: &DiffConfig) -> Comparison {
    let baseline = Distribution::of(b);
    let candidate = Distribution::of(c);
    let ratio = match (baseline.median, candidate.median) {
        (Some(b), Some(c)) if b > 0.0 => Some(c / b),
        _ => None,
    };
    let ci95 = stats::ratio_of_medians_ci(&baseline.samples, &candidate.samples, BOOTSTRAP_ROUNDS, BOOTSTRAP_SEED);
    let p_value = stats::mann_whitney_u(&baseline.samples, &candidate.samples).map(|r| r.p);
    let change = match (p_value, ci95) {
        (Some(p), Some(ci)) => stats::judge(p, ci, (baseline.n, candidate.n), def.higher_is_better, &config.thresholds),
        _ => Change::Inconclusive,
    };
    let expected = config
        .expected
        .iter()
        .find(|e| e.metric == def.name && e.change == change && e.scenario.as_deref().is_none_or(|s| s == scenario))
        .map(|e| e.why.clone());
    Comparison {
        scenario: scenario.to_string(),
        vcpus,
        metric: def.name.to_string(),
        unit: def.unit.to_string(),
        higher_is_better: def.higher_is_better,
        baseline,
        candidate,
        ratio,
        ci95,
        p_value,
        change,
        expected,
        gating: config.gate.as_ref().is_none_or(|gate| gate.iter().any(|m| m == def.name)),
    }
}

/// The kernel-log classes of a cell that are the kernel's (the TCG
/// code-patching flake is the rig's and makes the cell INFRA instead).
fn classes(cell: &CellResult) -> BTreeSet<EventClass> {
    cell.record.kernel_events.iter().map(|e| e.class).filter(|c| *c != EventClass::TcgCodePatchingCrash).collect()
}

/// Verdict changes and new event classes for one scenario × vCPUs.
fn correctness(scenario: &str, vcpus: u32, base: &[&CellResult], cand: &[&CellResult]) -> Vec<Finding> {
    let finding = |kind, detail: String, cell: Option<&CellResult>, excerpt: Option<String>| Finding {
        kind,
        scenario: scenario.to_string(),
        vcpus,
        detail,
        cell: cell.map(|c| c.key.rel_dir()),
        console_log: cell.map(|c| c.record.console_log.clone()),
        excerpt,
    };
    let kernel_verdicts = |cells: &[&CellResult]| -> Vec<Verdict> {
        cells.iter().map(|c| c.record.verdict).filter(|v| *v != Verdict::Infra).collect()
    };
    let (bv, cv) = (kernel_verdicts(base), kernel_verdicts(cand));
    if bv.is_empty() || cv.is_empty() {
        let side = if bv.is_empty() { "baseline" } else { "candidate" };
        return vec![finding(
            FindingKind::Missing,
            format!("no kernel verdict on the {side} side (cells missing or INFRA): nothing to compare"),
            None,
            None,
        )];
    }
    let mut out = Vec::new();
    let base_passes = bv.iter().all(|v| *v == Verdict::Pass);
    let first_bad = cand.iter().find(|c| !matches!(c.record.verdict, Verdict::Pass | Verdict::Infra));
    match (base_passes, first_bad) {
        (true, Some(bad)) => {
            let failed = cv.iter().filter(|v| **v != Verdict::Pass).count();
            out.push(finding(
                FindingKind::VerdictChanged,
                format!(
                    "PASS in all {} baseline cells, {} in {failed} of {} candidate cells",
                    bv.len(),
                    bad.record.verdict,
                    cv.len()
                ),
                Some(bad),
                evidence(bad),
            ));
        }
        (false, None) => {
            let bad = base.iter().find(|c| !matches!(c.record.verdict, Verdict::Pass | Verdict::Infra));
            out.push(finding(
                FindingKind::Fixed,
                format!(
                    "{} in the baseline, PASS in all {} candidate cells",
                    bad.map(|c| c.record.verdict.to_string()).unwrap_or_default(),
                    cv.len()
                ),
                bad.copied(),
                bad.and_then(|c| evidence(c)),
            ));
        }
        (false, Some(bad)) => out.push(finding(
            FindingKind::FailsOnBoth,
            format!("not PASS on either side (candidate: {})", bad.record.verdict),
            Some(bad),
            evidence(bad),
        )),
        (true, None) => {}
    }
    let seen: BTreeSet<EventClass> = base.iter().flat_map(|c| classes(c)).collect();
    let mut reported = BTreeSet::new();
    for cell in cand {
        for event in &cell.record.kernel_events {
            if event.class == EventClass::TcgCodePatchingCrash || seen.contains(&event.class) {
                continue;
            }
            if reported.insert(event.class) {
                out.push(finding(
                    FindingKind::NewEventClass,
                    format!("`{}` in the candidate, never in the baseline: {}", event.class, event.title),
                    Some(cell),
                    Some(event.excerpt.clone()),
                ));
            }
        }
    }
    out
}

/// The kernel report that convicts a cell, else the verdict's reasons.
fn evidence(cell: &CellResult) -> Option<String> {
    let record = &cell.record;
    let worst = record
        .kernel_events
        .iter()
        .find(|e| matches!(e.class, EventClass::Panic | EventClass::Oops | EventClass::Bug))
        .or_else(|| record.kernel_events.first());
    match worst {
        Some(event) => Some(event.excerpt.clone()),
        None if !record.reasons.is_empty() => Some(record.reasons.join("\n")),
        None => None,
    }
}

#[cfg(test)]
mod tests;
