//! The report: a [`Summary`] rendered for a terminal, a patch review
//! (`report.md`), CI (`junit.xml`) and a browser (`report.html`, with plots).
//!
//! Every renderer is a pure function of the summary, so the same summary
//! (fresh from `diff`, or read back from `summary.json`) always renders the
//! same bytes; none touches the disk (`run_report` writes them). One file per format;
//! what the formats share (counts, labels, number formatting) lives here and
//! in `num.rs`, so the formats cannot disagree about a number.

use anyhow::Result;

use crate::diff::{CellSummary, ClaimRow, Comparison, Distribution, Finding, Status, Summary};
use crate::diff_config::{Change, Claim};
use crate::outcome::Verdict;

mod html;
mod junit;
mod markdown;
mod num;
pub mod svg;
mod terminal;

pub use html::render as html;
pub use junit::render as junit;
pub use markdown::render as markdown;
pub use terminal::render as terminal;

/// The files [`write_all`] writes, in order.
pub const FILES: [&str; 4] = ["report.md", "summary.json", "junit.xml", "report.html"];

/// Every format's text, in [`FILES`] order: what the run's reports hold.
pub fn render_all(summary: &Summary) -> Result<[String; 4]> {
    let json = serde_json::to_string_pretty(summary)? + "\n";
    Ok([markdown(summary), json, junit(summary), html(summary)])
}

/// How many of each kind of result the summary holds: the headline of
/// every format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    /// Findings of a regression kind (a verdict change, a new event class).
    correctness: usize,
    /// Comparisons that regressed and were not expected to.
    metric: usize,
    improved: usize,
    /// Changes the matrix expected (either direction).
    expected: usize,
    /// Regressions of metrics the matrix does not gate on.
    not_gating: usize,
    inconclusive: usize,
    unchanged: usize,
}

impl Counts {
    fn of(summary: &Summary) -> Counts {
        let mut counts = Counts {
            correctness: summary.findings.iter().filter(|f| f.kind.is_regression()).count(),
            ..Counts::default()
        };
        for c in &summary.comparisons {
            match (c.change, c.expected.is_some()) {
                (_, true) => counts.expected += 1,
                (Change::Regressed, false) if !c.gating => counts.not_gating += 1,
                (Change::Regressed, false) => counts.metric += 1,
                (Change::Improved, false) => counts.improved += 1,
                (Change::Inconclusive, false) => counts.inconclusive += 1,
                (Change::Unchanged, false) => counts.unchanged += 1,
            }
        }
        counts
    }

    fn regressions(&self) -> usize {
        self.correctness + self.metric
    }
}

/// `baseline X vs candidate Y: 2 regressions (1 correctness, 1 metric), 1
/// improvement, ...`; `name` decorates the variant names (backticks in
/// markdown, nothing on a terminal).
fn headline(summary: &Summary, name: impl Fn(&str) -> String) -> String {
    let counts = Counts::of(summary);
    let mut parts = Vec::new();
    let regressions = counts.regressions();
    parts.push(if regressions == 0 {
        "no regressions".to_string()
    } else {
        format!(
            "{} ({} correctness, {} metric)",
            plural(regressions, "regression", "regressions"),
            counts.correctness,
            counts.metric
        )
    });
    for (n, one, many) in [
        (counts.improved, "improvement", "improvements"),
        (counts.expected, "expected change", "expected changes"),
        (counts.not_gating, "regression not gating", "regressions not gating"),
        (counts.inconclusive, "inconclusive", "inconclusive"),
        (counts.unchanged, "unchanged", "unchanged"),
    ] {
        if n > 0 {
            parts.push(plural(n, one, many));
        }
    }
    format!("baseline {} vs candidate {}: {}", name(&summary.baseline), name(&summary.candidate), parts.join(", "))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The status in words, with the exit code the command returns for it.
fn status_text(summary: &Summary) -> String {
    format!("{} (exit {}): {}", status_name(summary.status), summary.status.exit_code(), status_why(summary.status))
}

fn status_why(status: Status) -> &'static str {
    match status {
        Status::Clean => "no regression, every cell has a kernel verdict",
        Status::Regressed => "the candidate regressed (expected changes excluded)",
        Status::Infra => "no regression found, but some cells ended INFRA or are missing: the comparison is incomplete",
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Clean => "clean",
        Status::Regressed => "regressed",
        Status::Infra => "infra",
    }
}

fn change_name(change: Change) -> &'static str {
    match change {
        Change::Improved => "improved",
        Change::Regressed => "regressed",
        Change::Unchanged => "unchanged",
        Change::Inconclusive => "inconclusive",
    }
}

/// `regressed`, or `regressed (expected)` when the matrix explained it, or
/// `regressed (not gating)` for a metric the matrix does not gate on.
fn change_label(c: &Comparison) -> String {
    match c.expected {
        Some(_) => format!("{} (expected)", change_name(c.change)),
        None if c.change == Change::Regressed && !c.gating => "regressed (not gating)".to_string(),
        None => change_name(c.change).to_string(),
    }
}

/// `scenario/Ncpu/metric`: a comparison's name in JUnit and plot titles.
fn comparison_name(c: &Comparison) -> String {
    format!("{}/{}cpu/{}", c.scenario, c.vcpus, c.metric)
}

fn finding_kind(f: &Finding) -> String {
    // The serde name, so the reports use the words of summary.json.
    serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Verdict counts of one side's cells, in the order PASS FAIL HANG PANIC INFRA.
const VERDICTS: [Verdict; 5] = [Verdict::Pass, Verdict::Fail, Verdict::Hang, Verdict::Panic, Verdict::Infra];

fn tally(summary: &Summary, side: &str) -> [usize; 5] {
    let mut counts = [0; 5];
    for cell in summary.cells.iter().filter(|c| c.side == side) {
        if let Some(i) = VERDICTS.iter().position(|v| *v == cell.verdict) {
            counts[i] += 1;
        }
    }
    counts
}

/// The cells that did not pass: the ones a reader opens logs for.
fn troubled_cells(summary: &Summary) -> impl Iterator<Item = &CellSummary> {
    summary.cells.iter().filter(|c| c.verdict != Verdict::Pass)
}

/// For each finding, whether its excerpt is one an earlier finding already
/// quoted from the same cell: a panic is often both a verdict change and a
/// new event class, and the same 20 lines twice only hide what follows.
fn repeated_excerpts(findings: &[&Finding]) -> Vec<bool> {
    findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.excerpt.is_some()
                && findings[..i].iter().any(|earlier| earlier.excerpt == f.excerpt && earlier.cell == f.cell)
        })
        .collect()
}

/// At most `max` lines of an excerpt, and how many were left out.
fn excerpt_head(excerpt: &str, max: usize) -> (Vec<&str>, usize) {
    let lines: Vec<&str> = excerpt.lines().collect();
    let shown = lines.len().min(max);
    (lines[..shown].to_vec(), lines.len() - shown)
}

/// How the numbers were made and what decided each change, as sentences
/// (markdown and HTML list them): the boot as the unit, the test, the
/// interval, the corrections and the thresholds in force.
fn method_lines(summary: &Summary) -> Vec<String> {
    let th = &summary.thresholds;
    let effect = num::plain(1.0 + th.min_effect);
    vec![
        "The boot is the unit: each boot (cell) is summarised by the median of its windows; a side's median is \
         the median of its boots' medians, and ±spread is how much the boots differ (robust coefficient of \
         variation of the per-boot medians). p99 and max are of all windows pooled."
            .to_string(),
        "Test: two-sided rank test (Mann–Whitney, exact) of the per-boot medians, not of the pooled windows, \
         which are not independent."
            .to_string(),
        "Interval: 95 % hierarchical bootstrap of the ratio of medians (boots resampled, then windows within \
         each boot)."
            .to_string(),
        format!(
            "Many comparisons: Holm's correction over the gated comparisons, which decide the exit code (at most \
             a {} chance of any false alarm among them), Benjamini–Hochberg over the others (false discoveries \
             at most {} of those called); significant means adjusted p < {}.",
            num::percent(th.alpha),
            num::percent(th.alpha),
            num::plain(th.alpha)
        ),
        format!(
            "Minimum effect: {}: improved or regressed needs the whole interval beyond ×{effect} or ÷{effect}, \
             unchanged needs it within.",
            num::percent(th.min_effect)
        ),
        format!(
            "Minimum boots: {} PASS boots per side; with fewer a comparison is inconclusive (too few boots for the \
             rank test to reach significance, and the spread unknown).",
            th.min_boots
        ),
        format!(
            "Host load: a timing boot during which other host processes used more than {} cores is left out of \
             the statistics (its verdict still counts).",
            num::plain(th.max_host_load)
        ),
        "docs/statistics.md explains the method and its choices.".to_string(),
    ]
}

/// `6 vs 6`: the boots each side's statistics use, with the noisy boots
/// left out as `(+2 noisy)`.
fn boots(c: &Comparison) -> String {
    let side = |d: &Distribution| {
        if d.noisy_boots > 0 {
            format!("{} (+{} noisy)", d.boots, d.noisy_boots)
        } else {
            d.boots.to_string()
        }
    };
    format!("{} vs {}", side(&c.baseline), side(&c.candidate))
}

/// What the comparison table's columns mean, in a sentence or two.
const TABLE_LEGEND: &str = "Regressions first, then improvements, expected changes, inconclusive, unchanged. \
     Medians are of the per-boot medians, ± the between-boot spread; p99 / max are of all windows pooled; \
     boots: boots used per side (noisy ones left out in parentheses). Ratio: candidate / baseline median, \
     with its 95 % hierarchical bootstrap interval; p (adj.): rank test of the per-boot medians, corrected \
     for the number of comparisons.";

/// One comparison as the tables of `report.md` and `report.html` show it,
/// as plain text: both formats lay out these same cells (and escape them
/// their own way), so they cannot disagree about a row.
struct Row<'a> {
    c: &'a Comparison,
    /// `4.14 ms ±23%`.
    baseline: String,
    /// Pooled `p99 / max`, without unit: `7.60 / 7.90`.
    baseline_tail: String,
    candidate: String,
    candidate_tail: String,
    /// `6 vs 6`.
    boots: String,
    /// `0.06x [0.05, 0.07]`.
    ratio: String,
    /// The adjusted p-value; `–` when the comparison was not tested.
    p: String,
    /// `improved`, `regressed (expected)`, ...
    change: String,
    /// A regression that counts: shown in bold.
    strong: bool,
    /// The matrix's explanation of an expected change.
    expected: Option<&'a str>,
    /// Why it is inconclusive.
    reason: Option<&'a str>,
}

fn rows(summary: &Summary) -> Vec<Row<'_>> {
    let tail = |d: &Distribution| format!("{} / {}", num::opt(d.p99), num::opt(d.max));
    summary
        .comparisons
        .iter()
        .map(|c| Row {
            c,
            baseline: num::median_spread(c.baseline.median, c.baseline.spread, &c.unit),
            baseline_tail: tail(&c.baseline),
            candidate: num::median_spread(c.candidate.median, c.candidate.spread, &c.unit),
            candidate_tail: tail(&c.candidate),
            boots: boots(c),
            ratio: num::ratio_ci(c.ratio, c.ci95),
            p: num::p_value(c.p_adjusted),
            change: change_label(c),
            strong: c.is_regression(),
            expected: c.expected.as_deref(),
            reason: c.reason.as_deref().filter(|_| c.change == Change::Inconclusive),
        })
        .collect()
}

/// The reasons of the rows, each distinct text once and numbered from 1
/// in order of first use, and each row's number: the notes under the
/// markdown table (many rows share a reason).
fn reason_notes<'a>(rows: &[Row<'a>]) -> (Vec<Option<usize>>, Vec<(&'a str, usize)>) {
    let mut notes: Vec<(&str, usize)> = Vec::new();
    let marks = rows
        .iter()
        .map(|row| {
            let reason = row.reason?;
            Some(match notes.iter().position(|(text, _)| *text == reason) {
                Some(i) => {
                    notes[i].1 += 1;
                    i + 1
                }
                None => {
                    notes.push((reason, 1));
                    notes.len()
                }
            })
        })
        .collect();
    (marks, notes)
}

/// `HOLDS` or `DOES NOT HOLD`.
fn claim_verdict(holds: bool) -> &'static str {
    if holds {
        "HOLDS"
    } else {
        "DOES NOT HOLD"
    }
}

/// `1 of 2 claims hold`.
fn claims_tally(summary: &Summary) -> String {
    let holding = summary.claims.iter().filter(|c| c.holds).count();
    let total = summary.claims.len();
    if total == 1 {
        format!("the claim {}", if holding == 1 { "holds" } else { "does not hold" })
    } else {
        format!("{holding} of {total} claims hold")
    }
}

/// What a claim covers: `stall_other_cpus improved, in unload-noise at 2
/// and 4 vCPUs`; `metric` decorates the metric's name.
fn claim_scope(claim: &Claim, metric: impl Fn(&str) -> String) -> String {
    let list = |items: Vec<String>| match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    let scenarios = if claim.scenarios.is_empty() {
        "in every scenario that measures it".to_string()
    } else {
        format!("in {}", list(claim.scenarios.clone()))
    };
    let vcpus = if claim.vcpus.is_empty() {
        "at every vCPU count".to_string()
    } else {
        format!("at {} vCPUs", list(claim.vcpus.iter().map(u32::to_string).collect()))
    };
    format!("{} {}, {scenarios} {vcpus}", metric(&claim.metric), claim.change.name())
}

/// The columns of a claim's table, and whether each is a number.
const CLAIM_COLUMNS: [(&str, bool); 7] = [
    ("scenario", false),
    ("vCPUs", true),
    ("change", false),
    ("effect", false),
    ("95% CI", false),
    ("p (adj.)", true),
    ("boots", true),
];

/// A claim row's cells, in [`CLAIM_COLUMNS`] order; the change is marked
/// ✓ where it is the claimed one and ✗ where it is not.
fn claim_cells(row: &ClaimRow) -> [String; 7] {
    [
        row.scenario.clone(),
        row.vcpus.to_string(),
        format!("{} {}", if row.holds { "✓" } else { "✗" }, change_name(row.change)),
        num::ratio_effect(row.ratio),
        num::ci(row.ci95),
        num::p_value(row.p_adjusted),
        format!("{} vs {}", row.boots.0, row.boots.1),
    ]
}

/// A claim that covers no comparison at all, in words.
fn claim_uncovered(claim: &Claim) -> String {
    format!(
        "No comparison measures {} where the claim says, so it cannot hold: check its scenarios and vCPUs \
         against the matrix.",
        claim.metric
    )
}

/// The host-noise note: how many timing boots were left out and the worst
/// load; `None` when none was.
fn host_noise(summary: &Summary) -> Option<String> {
    let worst = summary.noisy_cells.iter().max_by(|a, b| a.other_cores.total_cmp(&b.other_cores))?;
    let per_side: Vec<String> = [&summary.baseline, &summary.candidate]
        .into_iter()
        .map(|side| (side, summary.noisy_cells.iter().filter(|n| n.side == *side).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(side, n)| format!("{n} on the {side} side"))
        .collect();
    Some(format!(
        "{} left out of the statistics ({}): other host processes used more than {} cores while they ran \
         (worst: {} cores, {}). Their verdicts still count; their timing says more about the host than the \
         kernel. Rerun on a quieter host, or with fewer cells in parallel.",
        plural(summary.noisy_cells.len(), "timing boot", "timing boots"),
        per_side.join(", "),
        num::plain(summary.thresholds.max_host_load),
        num::sig3(worst.other_cores),
        worst.key.rel_dir()
    ))
}

/// Replaces the control characters XML 1.0 forbids (console logs carry
/// ANSI escapes and stray bytes) and escapes markup: for XML, HTML and SVG.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
