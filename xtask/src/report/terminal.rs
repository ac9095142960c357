//! The terminal report: what a developer reads after `cargo xtask matrix`.
//!
//! Regressions first (the correctness ones with the head of their kernel
//! report, then the metric table), unchanged metrics only counted, then the
//! cells per side and the status. Lines stay within [`WIDTH`] columns so the
//! report survives an 80–120 column terminal and a CI log.

use std::fmt::Write;

use super::{num, Counts};
use crate::diff::{Comparison, Summary};
use crate::guest::verdict::Verdict;
use crate::stats::Change;

/// The widest line the report prints (excerpt lines are cut to it).
const WIDTH: usize = 120;
/// Lines of a kernel report shown per finding: the headline, the RIP and
/// the top of the call trace, which is what says where.
const EXCERPT_LINES: usize = 8;

/// ANSI colours, or nothing: widths are always computed on the plain text.
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
    fn red(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    fn green(&self, text: &str) -> String {
        self.wrap("32", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.wrap("33", text)
    }
    fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }
}

pub fn render(summary: &Summary, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    let counts = Counts::of(summary);

    let _ = writeln!(out, "{}", paint.bold(&super::headline(summary, str::to_string)));
    if !summary.runs.is_empty() {
        let _ = writeln!(out, "{}", paint.dim(&format!("runs: {}", summary.runs.join(", "))));
    }

    correctness(&mut out, summary, &paint);
    metrics(&mut out, summary, &counts, &paint);
    other_findings(&mut out, summary);

    infra_cells(&mut out, summary);

    out.push('\n');
    let sides = [("baseline", &summary.baseline), ("candidate", &summary.candidate)];
    let label_width = sides.iter().map(|(_, name)| name.chars().count()).max().unwrap_or(0);
    for (side, name) in sides {
        let counts = super::tally(summary, name);
        let tally: Vec<String> =
            super::VERDICTS.iter().zip(counts).map(|(verdict, n)| format!("{n:>3} {verdict}")).collect();
        let line = format!("cells {side:<9} {name:<label_width$} {}", tally.join(" "));
        let _ = writeln!(out, "{}", clip(&line));
    }
    let status = format!("status: {}", super::status_text(summary));
    let status = match summary.status {
        crate::diff::Status::Clean => paint.green(&status),
        crate::diff::Status::Regressed => paint.red(&status),
        crate::diff::Status::Infra => paint.yellow(&status),
    };
    let _ = writeln!(out, "{status}");
    out
}

/// The correctness regressions, each with its evidence.
fn correctness(out: &mut String, summary: &Summary, paint: &Paint) {
    let regressions: Vec<_> = summary.findings.iter().filter(|f| f.kind.is_regression()).collect();
    if regressions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.red(&format!("Correctness regressions ({})", regressions.len())));
    let repeated = super::repeated_excerpts(&regressions);
    for (finding, repeated) in regressions.into_iter().zip(repeated) {
        let head = format!("{}  {}  {} vCPUs", super::finding_kind(finding), finding.scenario, finding.vcpus);
        let _ = writeln!(out, "  {}", paint.bold(&head));
        for line in wrap(&finding.detail, WIDTH - 4) {
            let _ = writeln!(out, "    {line}");
        }
        if let Some(cell) = &finding.cell {
            let _ = writeln!(out, "    cell {cell}");
        }
        if let Some(log) = &finding.console_log {
            let _ = writeln!(out, "{}", clip(&format!("    log  {}", log.display())));
        }
        if repeated {
            let _ = writeln!(out, "{}", paint.dim("    | (the kernel report above)"));
        } else if let Some(excerpt) = &finding.excerpt {
            let (lines, rest) = super::excerpt_head(excerpt, EXCERPT_LINES);
            for line in lines {
                let _ = writeln!(out, "{}", paint.dim(&clip(&format!("    | {line}"))));
            }
            if rest > 0 {
                let _ = writeln!(out, "{}", paint.dim(&format!("    | ... {rest} more lines in the log")));
            }
        }
    }
}

/// The comparison table without the unchanged rows, which are counted.
fn metrics(out: &mut String, summary: &Summary, counts: &Counts, paint: &Paint) {
    if summary.comparisons.is_empty() {
        let _ = writeln!(out, "\nno metrics measured");
        return;
    }
    let unchanged = super::plural(counts.unchanged, "metric unchanged", "metrics unchanged");
    // Metrics with one value per run (cycles/s) cannot be judged from a
    // repetition or two; listing each of them would bury the findings.
    let too_few = |c: &Comparison| {
        c.change == Change::Inconclusive && c.baseline.n.min(c.candidate.n) < summary.thresholds.min_samples
    };
    let few = summary.comparisons.iter().filter(|c| too_few(c)).count();
    let few_line = format!(
        "{} with too few samples to judge (n < {} on a side; more repetitions help), in report.md",
        super::plural(few, "metric", "metrics"),
        summary.thresholds.min_samples
    );
    let shown: Vec<&Comparison> =
        summary.comparisons.iter().filter(|c| c.change != Change::Unchanged && !too_few(c)).collect();
    if shown.is_empty() {
        if counts.unchanged > 0 {
            let _ = writeln!(out, "\nMetrics: {unchanged}");
        } else {
            let _ = writeln!(out, "\nMetrics:");
        }
        if few > 0 {
            let _ = writeln!(out, "  {few_line}");
        }
        return;
    }
    let _ = writeln!(out, "\n{}", paint.bold("Metrics"));
    let rows: Vec<[String; 8]> = shown
        .iter()
        .map(|c| {
            [
                c.scenario.clone(),
                c.vcpus.to_string(),
                c.metric.clone(),
                num::opt_value(c.baseline.median, &c.unit),
                num::opt_value(c.candidate.median, &c.unit),
                num::ratio_ci(c.ratio, c.ci95),
                num::p_value(c.p_value),
                super::change_label(c),
            ]
        })
        .collect();
    let (header, lines) = table(&rows);
    let _ = writeln!(out, "  {}", paint.dim(&header));
    for (line, c) in lines.iter().zip(&shown) {
        let line = format!("  {line}");
        let line = match (c.change, c.expected.is_some()) {
            (_, true) => paint.dim(&line),
            (Change::Regressed, false) if !c.gating => paint.yellow(&line),
            (Change::Regressed, false) => paint.red(&line),
            (Change::Improved, false) => paint.green(&line),
            _ => paint.yellow(&line),
        };
        let _ = writeln!(out, "{line}");
    }
    let expected: Vec<&&Comparison> = shown.iter().filter(|c| c.expected.is_some()).collect();
    if !expected.is_empty() {
        let _ = writeln!(out, "  expected:");
        for c in expected {
            let why = c.expected.as_deref().unwrap_or_default();
            for (i, l) in wrap(&format!("{}: {why}", super::comparison_name(c)), WIDTH - 6).iter().enumerate() {
                let _ = writeln!(out, "    {}{l}", if i == 0 { "" } else { "  " });
            }
        }
    }
    if counts.unchanged > 0 {
        let _ = writeln!(out, "  {unchanged}");
    }
    if few > 0 {
        let _ = writeln!(out, "  {few_line}");
    }
}

/// The header and the rows of the metric table, padded to columns; the
/// numbers right-aligned so their magnitudes line up.
fn table(rows: &[[String; 8]]) -> (String, Vec<String>) {
    let header = ["scenario", "vCPUs", "metric", "baseline", "candidate", "ratio [95% CI]", "p", "change"];
    let right = [false, true, false, true, true, false, true, false];
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .zip(right)
            .map(|((cell, w), r)| if r { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let lines = rows.iter().map(|row| line(&row.each_ref().map(String::as_str))).collect();
    (line(&header), lines)
}

/// Findings that are not regressions (fixed, fails on both, missing): one
/// line each, after the numbers.
fn other_findings(out: &mut String, summary: &Summary) {
    let others: Vec<_> = summary.findings.iter().filter(|f| !f.kind.is_regression()).collect();
    if others.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nOther findings");
    for f in others {
        let mut text = format!("{}: {}, {} vCPUs: {}", super::finding_kind(f), f.scenario, f.vcpus, f.detail);
        // (`note_missing` already names the cell in the detail.)
        if let Some(cell) = f.cell.as_ref().filter(|cell| !f.detail.contains(cell.as_str())) {
            let _ = write!(text, " ({cell})");
        }
        for (i, line) in wrap(&text, WIDTH - 6).iter().enumerate() {
            let _ = writeln!(out, "  {}{line}", if i == 0 { "" } else { "    " });
        }
    }
}

/// The cells the rig could not judge, so the reader knows what to rerun.
fn infra_cells(out: &mut String, summary: &Summary) {
    let infra: Vec<_> = summary.cells.iter().filter(|c| c.verdict == Verdict::Infra).collect();
    if infra.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nINFRA cells (the rig failed, not the kernel)");
    for cell in infra {
        let reason = cell.reasons.first().map(String::as_str).unwrap_or("no reason recorded");
        let _ = writeln!(out, "{}", clip(&format!("  {}: {reason}", cell.key.rel_dir())));
    }
}

/// Cuts a line to [`WIDTH`] columns (kernel lines can be long).
fn clip(line: &str) -> String {
    if line.chars().count() <= WIDTH {
        line.to_string()
    } else {
        let mut cut: String = line.chars().take(WIDTH - 3).collect();
        cut.push_str("...");
        cut
    }
}

/// Word-wraps prose to `width` columns; a word longer than that gets a line
/// of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_clips() {
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("", 7), [""]);
        let long = "x".repeat(200);
        assert_eq!(clip(&long).chars().count(), WIDTH);
    }
}
