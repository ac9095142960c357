//! The report: a [`Summary`] rendered for a terminal, a patch review
//! (`report.md`), CI (`junit.xml`) and a browser (`report.html`, with plots).
//!
//! Every renderer is a pure function of the summary, so the same summary
//! (fresh from `diff`, or read back from `summary.json`) always renders the
//! same bytes; only [`write_all`] touches the disk. One file per format;
//! what the formats share (counts, labels, number formatting) lives here and
//! in `num.rs`, so the formats cannot disagree about a number.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::diff::{CellSummary, Comparison, Finding, Status, Summary};
use crate::guest::verdict::Verdict;
use crate::stats::Change;

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

/// Writes `report.md`, `summary.json`, `junit.xml` and `report.html` into
/// `dir`, each atomically (a reader never sees half a report), and returns
/// their paths in [`FILES`] order.
pub fn write_all(summary: &Summary, dir: &Path) -> Result<Vec<PathBuf>> {
    let json = serde_json::to_string_pretty(summary)? + "\n";
    let contents = [markdown(summary), json, junit(summary), html(summary)];
    let mut paths = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        crate::fsutil::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
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

/// The thresholds as sentences (markdown and HTML list them).
fn threshold_lines(summary: &Summary) -> [String; 3] {
    let th = &summary.thresholds;
    [
        format!("significance: two-sided Mann–Whitney U p < {}", num::plain(th.alpha)),
        format!(
            "minimum effect: {} (the whole 95 % bootstrap interval of the ratio of medians beyond ×{} or ÷{})",
            num::percent(th.min_effect),
            num::plain(1.0 + th.min_effect),
            num::plain(1.0 + th.min_effect)
        ),
        format!("minimum samples: {} per side (fewer is inconclusive)", th.min_samples),
    ]
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
