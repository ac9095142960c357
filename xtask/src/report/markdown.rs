//! `report.md`: the comparison as GitHub-flavoured markdown, to paste into
//! a patch review or a pull request. Headline first (a reviewer may read
//! nothing else), then the evidence: correctness findings with their kernel
//! reports, every comparison with its numbers, the thresholds that decided,
//! and the cells.

use std::fmt::Write;

use super::num;
use crate::diff::{Finding, Summary};

/// Lines of a kernel report quoted per finding: enough for the whole of a
/// typical BUG or Oops; the log has the rest.
const EXCERPT_LINES: usize = 40;

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", super::headline(summary, code));
    let _ = writeln!(
        out,
        "**Status: {}** (exit {}): {}\n",
        super::status_name(summary.status),
        summary.status.exit_code(),
        super::status_why(summary.status)
    );
    if !summary.runs.is_empty() {
        let runs: Vec<String> = summary.runs.iter().map(|r| code(r)).collect();
        let _ = writeln!(out, "Runs: {}\n", runs.join(", "));
    }

    let regressions: Vec<&Finding> = summary.findings.iter().filter(|f| f.kind.is_regression()).collect();
    if !regressions.is_empty() {
        let _ = writeln!(out, "## Correctness regressions\n");
        let repeated = super::repeated_excerpts(&regressions);
        for (f, repeated) in regressions.into_iter().zip(repeated) {
            finding(&mut out, f, repeated);
        }
    }
    let others: Vec<&Finding> = summary.findings.iter().filter(|f| !f.kind.is_regression()).collect();
    if !others.is_empty() {
        let _ = writeln!(out, "## Other findings\n");
        let _ = writeln!(out, "| finding | scenario | vCPUs | detail | cell |");
        let _ = writeln!(out, "|---|---|---:|---|---|");
        for f in others {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                super::finding_kind(f),
                cell_text(&f.scenario),
                f.vcpus,
                cell_text(&f.detail),
                f.cell.as_deref().map(code).unwrap_or_default()
            );
        }
        out.push('\n');
    }

    comparisons(&mut out, summary);

    let _ = writeln!(out, "## Thresholds\n");
    for line in super::threshold_lines(summary) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');

    cells(&mut out, summary);
    out
}

fn finding(out: &mut String, f: &Finding, repeated: bool) {
    let _ = writeln!(out, "### {}: {}, {} vCPUs\n", super::finding_kind(f), f.scenario, f.vcpus);
    let _ = writeln!(out, "{}\n", f.detail);
    match (&f.cell, &f.console_log) {
        (Some(cell), Some(log)) => {
            let _ = writeln!(out, "Cell {}, console log {}\n", code(cell), code(&log.display().to_string()));
        }
        (Some(cell), None) => {
            let _ = writeln!(out, "Cell {}\n", code(cell));
        }
        _ => {}
    }
    if repeated {
        let _ = writeln!(out, "The kernel report quoted above.\n");
    } else if let Some(excerpt) = &f.excerpt {
        let (lines, rest) = super::excerpt_head(excerpt, EXCERPT_LINES);
        let fence = fence_for(excerpt);
        let _ = writeln!(out, "{fence}text");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        if rest > 0 {
            let _ = writeln!(out, "[... {rest} more lines in the console log]");
        }
        let _ = writeln!(out, "{fence}\n");
    }
}

fn comparisons(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "## Metrics\n");
    if summary.comparisons.is_empty() {
        let _ = writeln!(out, "No metrics measured.\n");
        return;
    }
    let _ = writeln!(
        out,
        "Regressions first, then improvements, expected changes, inconclusive, unchanged. \
         Ratio: median(candidate) / median(baseline), with its 95 % bootstrap interval; \
         p: two-sided Mann–Whitney U.\n"
    );
    let _ = writeln!(
        out,
        "| scenario | vCPUs | metric | unit | baseline n | median | p99 | max \
         | candidate n | median | p99 | max | ratio [95% CI] | p | change |"
    );
    let _ = writeln!(out, "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|");
    for c in &summary.comparisons {
        let change = match &c.expected {
            Some(why) => format!("**{}**: {}", super::change_label(c), cell_text(why)),
            None if c.is_regression() => format!("**{}**", super::change_label(c)),
            None => super::change_label(c),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell_text(&c.scenario),
            c.vcpus,
            c.metric,
            cell_text(&c.unit),
            c.baseline.n,
            num::opt(c.baseline.median),
            num::opt(c.baseline.p99),
            num::opt(c.baseline.max),
            c.candidate.n,
            num::opt(c.candidate.median),
            num::opt(c.candidate.p99),
            num::opt(c.candidate.max),
            num::ratio_ci(c.ratio, c.ci95),
            num::p_value(c.p_value),
            change
        );
    }
    out.push('\n');
}

/// Per side, a line of verdict counts; then the cells that did not pass,
/// one row each with why and where their log is.
fn cells(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "## Cells\n");
    let _ = writeln!(out, "| side | variant | PASS | FAIL | HANG | PANIC | INFRA |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for (side, name) in [("baseline", &summary.baseline), ("candidate", &summary.candidate)] {
        let counts = super::tally(summary, name);
        let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
        let _ = writeln!(out, "| {side} | {} | {} |", code(name), counts.join(" | "));
    }
    out.push('\n');
    let troubled: Vec<_> = super::troubled_cells(summary).collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "Cells that did not pass:\n");
        let _ = writeln!(out, "| cell | side | verdict | wall | kernel events | reasons | console log |");
        let _ = writeln!(out, "|---|---|---|---:|---|---|---|");
        for cell in troubled {
            let events: Vec<&str> = cell.event_classes.iter().map(|e| e.name()).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                code(&cell.key.rel_dir()),
                cell_text(&cell.side),
                cell.verdict,
                num::seconds(cell.wall_ms),
                events.join(", "),
                cell_text(&cell.reasons.join("; ")),
                code(&cell.console_log.display().to_string())
            );
        }
        out.push('\n');
    }
    let passed = summary.cells.len() - super::troubled_cells(summary).count();
    let _ = writeln!(out, "{} of {} cells passed.", passed, summary.cells.len());
}

/// Text safe inside a table cell: one line, pipes escaped.
fn cell_text(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// An inline code span that survives backticks in the text (the span's
/// fence is one backtick longer than the longest run inside) and sits in a
/// table (pipes escaped, which GFM honours inside code spans in tables).
fn code(text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    cell_text(&format!("{fence}{pad}{text}{pad}{fence}"))
}

/// A code-block fence longer than any backtick run in `text`, so a kernel
/// line with ``` cannot end the block early.
fn fence_for(text: &str) -> String {
    "`".repeat(longest_backtick_run(text).max(2) + 1)
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_and_fences_survive_backticks_and_pipes() {
        assert_eq!(code("upstream"), "`upstream`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("has ```` four"), "`````");
    }
}
