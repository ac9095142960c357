//! What one kernel compared with itself says about the rig's noise: the
//! between-boot spread per scenario × vCPUs × metric, the false alarms of
//! self-comparisons, and the smallest change a matrix of R boots per side
//! can detect. Pure: the cells of an A/A run in, a [`Calibration`] out.
//!
//! An A/A run has two variant names for one build. Its boots are split into
//! consecutive blocks of R repetitions, and each block is diffed as if it
//! were a matrix of its own: ten blocks are ten independent self-comparisons
//! from one interleaved run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cell::CellResult;
use crate::diff::{self, Side, Status};
use crate::diff_config::{Change, DiffConfig};
use crate::metrics::Metric;
use crate::stats;

/// The false-alarm budget: the share of all comparisons of self-comparisons
/// that may be called improved or regressed.
pub const MAX_FALSE_ALARM_SHARE: f64 = 0.01;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Boots per side in each self-comparison.
    pub boots_per_side: u32,
    /// How many self-comparisons the run held.
    pub blocks: usize,
    pub alpha: f64,
    pub rows: Vec<CalibrationRow>,
    /// Comparisons judged over all blocks.
    pub comparisons: usize,
    /// Of them, called improved or regressed (every one is false: the same
    /// kernel is on both sides).
    pub false_alarms: usize,
    /// Of those, on a gated metric: they would have failed the run.
    pub gating_false_alarms: usize,
    /// Blocks whose status was `regressed` (exit 20).
    pub regressed_blocks: usize,
}

/// One scenario × vCPUs × metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    pub scenario: String,
    pub vcpus: u32,
    pub metric: String,
    pub unit: String,
    pub gating: bool,
    /// Boots with samples, both names together.
    pub boots: usize,
    /// Median of all per-boot medians.
    pub median: Option<f64>,
    /// Robust coefficient of variation of the per-boot medians.
    pub between_boot_cv: Option<f64>,
    /// Robust standard deviation of the log per-boot medians.
    pub log_sd: Option<f64>,
    /// Self-comparisons of this row called improved or regressed, of those judged.
    pub false_alarms: usize,
    pub judged: usize,
    /// Smallest ratio detectable with 80 % power at `boots_per_side`, at the
    /// worst-case Holm level (alpha over the number of gated rows) for
    /// gated metrics and at alpha for the others.
    pub detectable_ratio: Option<f64>,
}

/// Analyses an A/A run: `cells` of the variants `a` and `b` (the same
/// kernel), split into blocks of `boots_per_side` repetitions.
pub fn analyse(cells: &[CellResult], a: &str, b: &str, boots_per_side: u32, config: &DiffConfig) -> Calibration {
    let per_block = boots_per_side.max(1);
    let max_rep = cells.iter().map(|c| c.key.rep).max().unwrap_or(0);
    let blocks = (max_rep / per_block) as usize;

    let mut rows: BTreeMap<(String, u32, usize), CalibrationRow> = BTreeMap::new();
    let mut comparisons = 0;
    let mut false_alarms = 0;
    let mut gating_false_alarms = 0;
    let mut regressed_blocks = 0;
    for block in 0..blocks as u32 {
        let reps = block * per_block + 1..=(block + 1) * per_block;
        let side = |variant: &str| Side {
            label: variant.to_string(),
            cells: cells.iter().filter(|c| c.key.variant == variant && reps.contains(&c.key.rep)).collect(),
        };
        let summary = diff::diff(&side(a), &side(b), vec![], config);
        if summary.status == Status::Regressed {
            regressed_blocks += 1;
        }
        for c in &summary.comparisons {
            let row =
                rows.entry((c.scenario.clone(), c.vcpus, metric_order(&c.metric))).or_insert_with(|| CalibrationRow {
                    scenario: c.scenario.clone(),
                    vcpus: c.vcpus,
                    metric: c.metric.clone(),
                    unit: c.unit.clone(),
                    gating: c.gating,
                    boots: 0,
                    median: None,
                    between_boot_cv: None,
                    log_sd: None,
                    false_alarms: 0,
                    judged: 0,
                    detectable_ratio: None,
                });
            if c.p_adjusted.is_some() {
                row.judged += 1;
                comparisons += 1;
            }
            if matches!(c.change, Change::Improved | Change::Regressed) {
                row.false_alarms += 1;
                false_alarms += 1;
                if c.gating {
                    gating_false_alarms += 1;
                }
            }
        }
    }

    // The spread over every boot of the run, both names pooled: they are
    // the same kernel, so all boots estimate one between-boot distribution.
    let whole = diff::diff(
        &Side { label: a.to_string(), cells: cells.iter().filter(|c| c.key.variant == a).collect() },
        &Side { label: b.to_string(), cells: cells.iter().filter(|c| c.key.variant == b).collect() },
        vec![],
        config,
    );
    let gated_rows = whole.comparisons.iter().filter(|c| c.gating).count().max(1);
    for c in &whole.comparisons {
        let Some(row) = rows.get_mut(&(c.scenario.clone(), c.vcpus, metric_order(&c.metric))) else { continue };
        let medians: Vec<f64> = c.baseline.boot_medians.iter().chain(&c.candidate.boot_medians).copied().collect();
        row.boots = medians.len();
        row.median = stats::median(&medians);
        row.between_boot_cv = stats::robust_cv(&medians);
        row.log_sd = stats::log_sd(&medians);
        let alpha = if c.gating { config.thresholds.alpha / gated_rows as f64 } else { config.thresholds.alpha };
        row.detectable_ratio =
            row.log_sd.and_then(|sd| stats::detectable_ratio(sd, boots_per_side as usize, alpha, 0.8));
    }

    Calibration {
        boots_per_side,
        blocks,
        alpha: config.thresholds.alpha,
        rows: rows.into_values().collect(),
        comparisons,
        false_alarms,
        gating_false_alarms,
        regressed_blocks,
    }
}

fn metric_order(name: &str) -> usize {
    Metric::compared().position(|m| m.name == name).unwrap_or(usize::MAX)
}

impl Calibration {
    /// The share of judged comparisons called changed.
    pub fn false_alarm_share(&self) -> f64 {
        if self.comparisons == 0 {
            0.0
        } else {
            self.false_alarms as f64 / self.comparisons as f64
        }
    }

    /// Whether the rig met its promise on this host: no gating false alarm
    /// and at most [`MAX_FALSE_ALARM_SHARE`] of all comparisons changed.
    pub fn passes(&self) -> bool {
        self.gating_false_alarms == 0 && self.false_alarm_share() <= MAX_FALSE_ALARM_SHARE
    }

    /// The calibration as Markdown: a verdict line, then a row per
    /// scenario × vCPUs × metric.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# Calibration: the same kernel against itself\n\n{} self-comparison(s) of {} boots per side. \
             {} of {} judged comparisons were called changed ({:.1} %), {} of them on a gated metric; \
             {} self-comparison(s) would have exited `regressed`. {}\n\n",
            self.blocks,
            self.boots_per_side,
            self.false_alarms,
            self.comparisons,
            100.0 * self.false_alarm_share(),
            self.gating_false_alarms,
            self.regressed_blocks,
            if self.passes() {
                "Within the rig's promise (no gating false alarm, at most 1 % changed)."
            } else {
                "NOT within the rig's promise (no gating false alarm, at most 1 % changed): see the rows below."
            }
        ));
        out.push_str(&format!(
            "| scenario | vCPUs | metric | gated | boots | median | between-boot CV | false alarms | detectable at {} boots |\n\
             |---|---:|---|:-:|---:|---:|---:|---:|---:|\n",
            self.boots_per_side
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {} |\n",
                r.scenario,
                r.vcpus,
                r.metric,
                if r.gating { "yes" } else { "no" },
                r.boots,
                r.median.map(|m| format!("{} {}", sig3(m), r.unit)).unwrap_or_else(|| "–".into()),
                r.between_boot_cv.map(|cv| format!("{:.0} %", cv * 100.0)).unwrap_or_else(|| "–".into()),
                r.false_alarms,
                r.judged,
                match (r.detectable_ratio, r.log_sd) {
                    (Some(d), _) => format!("×{d:.2}"),
                    (None, Some(_)) => "never (too few boots)".to_string(),
                    (None, None) => "–".to_string(),
                }
            ));
        }
        out.push_str(
            "\nBetween-boot CV: robust coefficient of variation (1.4826 × MAD / median) of the per-boot medians. \
             Detectable: the smallest ratio of medians (either way) a matrix with this many boots per side calls \
             changed with 80 % power, by the normal approximation in docs/statistics.md; gated metrics at the \
             worst-case Holm level.\n",
        );
        out
    }
}

/// Three significant digits, for medians of any magnitude.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests;
