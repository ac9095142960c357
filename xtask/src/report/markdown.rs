//! `report.md`: the comparison as GitHub-flavoured markdown, to paste into
//! a patch review or a pull request. Headline first (a reviewer may read
//! nothing else), then the finding: whether the change's claims held. Then
//! the evidence: correctness findings with their kernel reports, the host
//! noise, every comparison with its numbers, the method that decided, and
//! the cells.

use std::fmt::Write;

use super::num;
use crate::diff::{ClaimResult, Finding, Summary};

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

    claims(&mut out, summary);

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

    if let Some(note) = super::host_noise(summary) {
        let _ = writeln!(out, "## Host noise\n\n{note}\n");
    }

    comparisons(&mut out, summary);

    let _ = writeln!(out, "## Method and thresholds\n");
    for line in super::method_lines(summary) {
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

/// Each claim, whether it held, and the comparisons it covers.
fn claims(out: &mut String, summary: &Summary) {
    if summary.claims.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Claims: {}\n", super::claims_tally(summary));
    for claim in &summary.claims {
        claim_section(out, claim);
    }
}

fn claim_section(out: &mut String, result: &ClaimResult) {
    let claim = &result.claim;
    let _ = writeln!(out, "### {}: {}\n", super::claim_verdict(result.holds), cell_text(&claim.says));
    let _ = writeln!(out, "Claimed: {}.\n", super::claim_scope(claim, code));
    if result.rows.is_empty() {
        let _ = writeln!(out, "{}\n", super::claim_uncovered(claim));
        return;
    }
    let header: Vec<&str> = super::CLAIM_COLUMNS.iter().map(|(name, _)| *name).collect();
    let align: Vec<&str> = super::CLAIM_COLUMNS.iter().map(|(_, n)| if *n { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "| {} |\n|{}|", header.join(" | "), align.join("|"));
    for row in &result.rows {
        let cells: Vec<String> = super::claim_cells(row).iter().map(|c| cell_text(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    let reasons: Vec<_> = result.rows.iter().filter_map(|r| Some((r, r.reason.as_deref()?))).collect();
    for (row, reason) in &reasons {
        let _ = writeln!(out, "- {}, {} vCPUs: {}", row.scenario, row.vcpus, reason);
    }
    if !reasons.is_empty() {
        out.push('\n');
    }
}

/// The table of every comparison, and under it why the inconclusive ones
/// are (each distinct reason once, numbered).
fn comparisons(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "## Metrics\n");
    if summary.comparisons.is_empty() {
        let _ = writeln!(out, "No metrics measured.\n");
        return;
    }
    let _ = writeln!(out, "{}\n", super::TABLE_LEGEND);
    let _ = writeln!(
        out,
        "| scenario | vCPUs | metric | baseline {} | p99 / max | candidate {} | p99 / max | boots \
         | ratio [95% CI] | p (adj.) | change |",
        code(&summary.baseline),
        code(&summary.candidate)
    );
    let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|");
    let rows = super::rows(summary);
    let (marks, notes) = super::reason_notes(&rows);
    for (row, mark) in rows.iter().zip(marks) {
        let mut change =
            if row.strong || row.expected.is_some() { format!("**{}**", row.change) } else { row.change.clone() };
        if let Some(why) = row.expected {
            let _ = write!(change, ": {why}");
        }
        if let Some(n) = mark {
            let _ = write!(change, " ({n})");
        }
        let c = row.c;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell_text(&c.scenario),
            c.vcpus,
            c.metric,
            cell_text(&row.baseline),
            row.baseline_tail,
            cell_text(&row.candidate),
            row.candidate_tail,
            row.boots,
            row.ratio,
            row.p,
            cell_text(&change)
        );
    }
    out.push('\n');
    if !notes.is_empty() {
        let _ = writeln!(out, "Why inconclusive:\n");
        for (i, (reason, count)) in notes.iter().enumerate() {
            let times = if *count > 1 { format!(" ({count} comparisons)") } else { String::new() };
            let _ = writeln!(out, "{}. {}{times}", i + 1, reason.replace('\n', " "));
        }
        out.push('\n');
    }
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
