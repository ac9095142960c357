//! The diff: a baseline's cells against a candidate's, per scenario × vCPUs
//! × metric, into a [`Summary`] that every report format renders.
//!
//! The boot (one cell) is the unit: each boot is summarised by the median of
//! its windows, the test and the interval work on those per-boot medians,
//! the p-values are corrected for the number of comparisons (Holm over the
//! gated ones, Benjamini–Hochberg over the rest), and boots the host's own
//! load spoiled are left out. `docs/statistics.md` says why.
//!
//! Pure: finished cells in (read from disk by `results`), a summary out.
//! The summary is also `summary.json`, so its types are the file's schema
//! (documented in `docs/summary-schema.md`; bump [`SUMMARY_SCHEMA`] on any
//! incompatible change).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::cell::{CellKey, CellResult};
use crate::diff_config::{Change, Thresholds};
pub use crate::diff_config::{Claim, ClaimedChange, DiffConfig, ExpectedChange};
use crate::kernel_event::EventClass;
use crate::metrics::{Better, Metric, MetricInfo};
use crate::outcome::Verdict;
use crate::stats;

pub const SUMMARY_SCHEMA: u32 = 2;

/// Bootstrap rounds for the ratio interval: enough for a stable 95 %
/// interval, cheap next to a guest boot.
const BOOTSTRAP_ROUNDS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 0x6d6f_6472_6967;

/// One side of a comparison: a label for the reader and its cells.
#[derive(Debug, Clone)]
pub struct Side<'a> {
    /// The variant name, or `run-id:variant` when comparing two runs.
    pub label: String,
    pub cells: Vec<&'a CellResult>,
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
    /// The matrix's claims, each checked against its comparisons.
    #[serde(default)]
    pub claims: Vec<ClaimResult>,
    /// Timing boots left out of the statistics because the host was busy.
    #[serde(default)]
    pub noisy_cells: Vec<NoisyCell>,
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

/// A metric on one side of a comparison. The boot is the unit: every
/// statistic that decides anything is over per-boot medians, and the pooled
/// windows are kept only for plots and percentiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Windows (samples) of the boots used, pooled.
    pub n: usize,
    /// Boots whose samples are used.
    pub boots: usize,
    /// Boots left out because the host was too busy while they ran.
    #[serde(default)]
    pub noisy_boots: usize,
    /// The median of the per-boot medians: the side's typical boot.
    pub median: Option<f64>,
    /// Between-boot spread: the robust coefficient of variation of the
    /// per-boot medians (0.2: boots typically differ by 20 %).
    #[serde(default)]
    pub spread: Option<f64>,
    /// Of the pooled windows.
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Each used boot's median, in cell order.
    #[serde(default)]
    pub boot_medians: Vec<f64>,
    /// Every sample of the used boots, in the metric's unit (for plots and
    /// re-analysis).
    pub samples: Vec<f64>,
}

impl Distribution {
    /// The statistics of one side from its boots' samples (empty boots,
    /// which measured nothing, are not boots of this metric).
    pub fn of_boots(boots: &[Vec<f64>], noisy_boots: usize) -> Distribution {
        let boot_medians = stats::boot_medians(boots);
        let boots: Vec<&Vec<f64>> = boots.iter().filter(|b| !b.is_empty()).collect();
        let samples: Vec<f64> = boots.iter().flat_map(|b| b.iter().copied()).collect();
        Distribution {
            n: samples.len(),
            boots: boots.len(),
            noisy_boots,
            median: stats::median(&boot_medians),
            spread: stats::robust_cv(&boot_medians),
            p99: stats::percentile(&samples, 99.0),
            max: samples.iter().copied().reduce(f64::max),
            boot_medians,
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
    /// median(candidate boot medians) / median(baseline boot medians).
    pub ratio: Option<f64>,
    /// Hierarchical bootstrap 95 % interval of the ratio (boots resampled,
    /// then windows within each boot).
    pub ci95: Option<(f64, f64)>,
    /// Two-sided rank test of the per-boot medians (exact for small counts).
    pub p_value: Option<f64>,
    /// `p_value` corrected for the number of comparisons: Holm over the
    /// gated comparisons, Benjamini–Hochberg over the others.
    #[serde(default)]
    pub p_adjusted: Option<f64>,
    pub change: Change,
    /// Why the change is inconclusive (too few boots, a noisy host, an
    /// interval across the effect threshold), in one sentence.
    #[serde(default)]
    pub reason: Option<String>,
    /// The smallest ratio (or its inverse) these boots could call a change
    /// with 80 % power, from their between-boot spread: how big an effect
    /// this comparison can see at all. `None` without enough boots.
    #[serde(default)]
    pub detectable_ratio: Option<f64>,
    /// The level the raw p-value must clear at the correction's first step
    /// (alpha over the gated family's size, or alpha).
    #[serde(default)]
    pub level: f64,
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

/// A claim checked against the comparisons it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    pub claim: Claim,
    /// True when every covered comparison has the claimed change and there
    /// is at least one.
    pub holds: bool,
    pub rows: Vec<ClaimRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub scenario: String,
    pub vcpus: u32,
    pub change: Change,
    pub holds: bool,
    pub ratio: Option<f64>,
    pub ci95: Option<(f64, f64)>,
    pub p_adjusted: Option<f64>,
    /// Boots per side (baseline, candidate).
    pub boots: (usize, usize),
    pub reason: Option<String>,
}

/// A timing boot left out of the statistics: other processes took the
/// host's CPU while it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisyCell {
    pub key: CellKey,
    pub side: String,
    /// Host cores other processes used while the scenario ran.
    pub other_cores: f64,
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
    /// Host cores other processes used while the cell's scenario ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_other_cores: Option<f64>,
}

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

    let th = &config.thresholds;
    let mut findings = Vec::new();
    let mut comparisons = Vec::new();
    for ((scenario, vcpus), (base, cand)) in &groups {
        findings.extend(correctness(scenario, *vcpus, base, cand));
        let (base_boots, cand_boots) = (finished(base), finished(cand));
        for def in Metric::compared() {
            let side = |boots: &[&CellResult]| -> (Vec<Vec<f64>>, usize) {
                let mut quiet = Vec::new();
                let mut noisy = 0;
                for cell in boots {
                    let samples = cell.record.metrics.as_ref().map(|m| m.samples(def.metric)).unwrap_or_default();
                    if samples.is_empty() {
                        continue;
                    }
                    if is_noisy(cell, th) {
                        noisy += 1;
                    } else {
                        quiet.push(samples);
                    }
                }
                (quiet, noisy)
            };
            let (b, c) = (side(&base_boots), side(&cand_boots));
            if b.0.is_empty() && c.0.is_empty() && b.1 == 0 && c.1 == 0 {
                continue;
            }
            comparisons.push(measure(scenario, *vcpus, def, b, c, config));
        }
    }
    adjust_and_judge(&mut comparisons, th);
    for c in &mut comparisons {
        c.expected = config
            .expected
            .iter()
            .find(|e| {
                e.metric == c.metric && e.change == c.change && e.scenario.as_ref().is_none_or(|s| *s == c.scenario)
            })
            .map(|e| e.why.clone());
    }
    let claims = config.claims.iter().map(|claim| check_claim(claim, &comparisons)).collect();
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
    let mut noisy_cells = Vec::new();
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
                host_other_cores: cell.record.host_load.map(|h| h.other_cores),
            });
            if is_noisy(cell, th) && has_timing_samples(cell) {
                let other_cores = cell.record.host_load.map(|h| h.other_cores).unwrap_or_default();
                noisy_cells.push(NoisyCell { key: cell.key.clone(), side: side.clone(), other_cores });
            }
        }
    }
    cells.sort_by(|a, b| a.key.cmp(&b.key).then(a.side.cmp(&b.side)));
    noisy_cells.sort_by(|a, b| a.key.cmp(&b.key).then(a.side.cmp(&b.side)));

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
        claims,
        noisy_cells,
    }
}

/// Cells the kernel finished: a crashed run's partial numbers would compare
/// a different experiment.
fn finished<'a>(cells: &[&'a CellResult]) -> Vec<&'a CellResult> {
    cells.iter().filter(|c| c.record.verdict == Verdict::Pass && c.record.metrics.is_some()).copied().collect()
}

/// A boot during which other processes took more of the host than the
/// thresholds allow: its timing says more about the host than the kernel.
fn is_noisy(cell: &CellResult, th: &Thresholds) -> bool {
    cell.record.host_load.is_some_and(|h| h.other_cores > th.max_host_load)
}

fn has_timing_samples(cell: &CellResult) -> bool {
    cell.record.metrics.as_ref().is_some_and(|m| Metric::compared().any(|def| !m.samples(def.metric).is_empty()))
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
    Metric::compared().position(|d| d.name == name).unwrap_or(usize::MAX)
}

/// The statistics of one comparison, before the multiple-comparison
/// correction decides its change (see [`adjust_and_judge`]).
fn measure(
    scenario: &str,
    vcpus: u32,
    def: &MetricInfo,
    (base_boots, base_noisy): (Vec<Vec<f64>>, usize),
    (cand_boots, cand_noisy): (Vec<Vec<f64>>, usize),
    config: &DiffConfig,
) -> Comparison {
    let baseline = Distribution::of_boots(&base_boots, base_noisy);
    let candidate = Distribution::of_boots(&cand_boots, cand_noisy);
    let ratio = match (baseline.median, candidate.median) {
        (Some(b), Some(c)) if b > 0.0 => Some(c / b),
        _ => None,
    };
    let ci95 = stats::hierarchical_ratio_ci(&base_boots, &cand_boots, BOOTSTRAP_ROUNDS, BOOTSTRAP_SEED);
    let p_value = stats::boot_rank_test(&baseline.boot_medians, &candidate.boot_medians).map(|r| r.p);
    Comparison {
        scenario: scenario.to_string(),
        vcpus,
        metric: def.name.to_string(),
        unit: def.unit.to_string(),
        higher_is_better: def.better == Some(Better::Higher),
        baseline,
        candidate,
        ratio,
        ci95,
        p_value,
        p_adjusted: None,
        change: Change::Inconclusive,
        reason: None,
        detectable_ratio: None,
        level: config.thresholds.alpha,
        expected: None,
        gating: config.gate.as_ref().is_none_or(|gate| gate.iter().any(|m| m == def.name)),
    }
}

/// Corrects the p-values for the number of comparisons and decides each
/// change. The gated comparisons (those that can fail the run) form one
/// family under Holm's step-down correction, which bounds the chance of any
/// false alarm in the exit code by alpha. The others are reported only and
/// get Benjamini–Hochberg, which bounds the share of false discoveries
/// among them. Comparisons with too few boots are not tested at all, so
/// they cannot dilute or inflate either family.
fn adjust_and_judge(comparisons: &mut [Comparison], th: &Thresholds) {
    let testable =
        |c: &Comparison| c.p_value.is_some() && c.baseline.boots >= th.min_boots && c.candidate.boots >= th.min_boots;
    for gated in [true, false] {
        let family: Vec<usize> =
            (0..comparisons.len()).filter(|&i| comparisons[i].gating == gated && testable(&comparisons[i])).collect();
        let raw: Vec<f64> = family.iter().filter_map(|&i| comparisons[i].p_value).collect();
        let adjusted = if gated { stats::holm(&raw) } else { stats::benjamini_hochberg(&raw) };
        for (&i, p) in family.iter().zip(adjusted) {
            comparisons[i].p_adjusted = Some(p);
        }
        // Holm's first step tests at alpha / m: the worst case a single
        // real change in this family must clear.
        let alpha = if gated { th.alpha / family.len().max(1) as f64 } else { th.alpha };
        for &i in &family {
            comparisons[i].level = alpha;
            let c = &comparisons[i];
            let spread = pooled_log_sd(&c.baseline.boot_medians, &c.candidate.boot_medians);
            let boots = c.baseline.boots.min(c.candidate.boots);
            comparisons[i].detectable_ratio = spread.and_then(|sd| stats::detectable_ratio(sd, boots, alpha, 0.8));
        }
    }
    for c in comparisons.iter_mut() {
        let (change, reason) = decide(c, th);
        c.change = change;
        c.reason = reason;
    }
}

/// The change of one comparison and, when it is inconclusive, why.
fn decide(c: &Comparison, th: &Thresholds) -> (Change, Option<String>) {
    let boots = (c.baseline.boots, c.candidate.boots);
    if boots.0 < th.min_boots || boots.1 < th.min_boots {
        let noisy = c.baseline.noisy_boots + c.candidate.noisy_boots;
        let why = if noisy > 0 {
            format!(
                "host too noisy to judge: {noisy} boot(s) left out because other processes used more than {} host cores while they ran, leaving {} and {} boots (at least {} per side needed)",
                th.max_host_load, boots.0, boots.1, th.min_boots
            )
        } else {
            format!("{} and {} boots: at least {} per side are needed to judge", boots.0, boots.1, th.min_boots)
        };
        return (Change::Inconclusive, Some(why));
    }
    let (Some(p), Some(ci)) = (c.p_adjusted, c.ci95) else {
        return (Change::Inconclusive, Some("no ratio: the baseline's median is zero".to_string()));
    };
    let change = stats::judge(p, ci, boots, c.higher_is_better, th);
    let reason = (change == Change::Inconclusive).then(|| {
        let floor = stats::min_p_value(boots.0, boots.1);
        if p >= th.alpha && floor >= c.level {
            format!(
                "with {} and {} boots no difference can reach p < {} after correction (the rank test's smallest p is {}, the first step of the correction asks for {})",
                boots.0,
                boots.1,
                th.alpha,
                short(floor),
                short(c.level)
            )
        } else if p < th.alpha {
            format!(
                "significant (p = {} after correction) but the interval reaches within ×{:.2} of no change",
                short(p),
                1.0 + th.min_effect
            )
        } else {
            match c.detectable_ratio {
                Some(d) if d > 1.0 + th.min_effect => format!(
                    "too noisy to judge at {} boots: the boots spread so much that only changes beyond ×{d:.2} can be seen (p = {} after correction)",
                    boots.0.min(boots.1),
                    short(p)
                ),
                _ => format!(
                    "not significant (p = {} after correction) and the interval reaches beyond ×{:.2}: more boots could tell",
                    short(p),
                    1.0 + th.min_effect
                ),
            }
        }
    });
    (change, reason)
}

/// The between-boot standard deviation of log medians, pooled over the two
/// sides (each side's own spread, so a real difference does not count).
fn pooled_log_sd(a: &[f64], b: &[f64]) -> Option<f64> {
    let (sa, sb) = (stats::log_sd(a)?, stats::log_sd(b)?);
    Some(((sa * sa + sb * sb) / 2.0).sqrt())
}

fn short(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn check_claim(claim: &Claim, comparisons: &[Comparison]) -> ClaimResult {
    let rows: Vec<ClaimRow> = comparisons
        .iter()
        .filter(|c| c.metric == claim.metric)
        .filter(|c| claim.scenarios.is_empty() || claim.scenarios.contains(&c.scenario))
        .filter(|c| claim.vcpus.is_empty() || claim.vcpus.contains(&c.vcpus))
        .map(|c| ClaimRow {
            scenario: c.scenario.clone(),
            vcpus: c.vcpus,
            change: c.change,
            holds: claim.change.holds(c.change),
            ratio: c.ratio,
            ci95: c.ci95,
            p_adjusted: c.p_adjusted,
            boots: (c.baseline.boots, c.candidate.boots),
            reason: c.reason.clone(),
        })
        .collect();
    ClaimResult { claim: claim.clone(), holds: !rows.is_empty() && rows.iter().all(|r| r.holds), rows }
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
