//! The terminal report: what a developer reads after `cargo xtask matrix`.
//!
//! The claims first (did the change do what it says?), then regressions
//! (the correctness ones with the head of their kernel report, then the
//! metric table), unchanged metrics only counted and the comparisons that
//! cannot be judged folded by why, then the host noise, the cells per side
//! and the status. Lines stay within [`WIDTH`] columns so the report
//! survives an 80–120 column terminal and a CI log, and stays short with
//! ~150 comparisons.

use std::fmt::Write;

use super::{num, Counts};
use crate::diff::{ClaimResult, ClaimRow, Comparison, Summary};
use crate::diff_config::{Change, Thresholds};
use crate::outcome::Verdict;

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

    for (i, line) in wrap(&super::headline(summary, str::to_string), WIDTH - 2).iter().enumerate() {
        let _ = writeln!(out, "{}{}", if i == 0 { "" } else { "  " }, paint.bold(line));
    }
    if !summary.runs.is_empty() {
        let _ = writeln!(out, "{}", paint.dim(&format!("runs: {}", summary.runs.join(", "))));
    }

    claims(&mut out, summary, &paint);
    correctness(&mut out, summary, &paint);
    metrics(&mut out, summary, &counts, &paint);
    other_findings(&mut out, summary);
    if let Some(note) = super::host_noise(summary) {
        let _ = writeln!(out, "\n{}", paint.yellow("Host noise"));
        for line in wrap(&note, WIDTH - 2) {
            let _ = writeln!(out, "  {line}");
        }
    }

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

/// Each claim, whether it held, and a row per comparison it covers, with
/// the reason of the rows that could not be judged.
fn claims(out: &mut String, summary: &Summary, paint: &Paint) {
    if summary.claims.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.bold(&format!("Claims: {}", super::claims_tally(summary))));
    for claim in &summary.claims {
        claim_block(out, claim, &summary.thresholds, paint);
    }
}

fn claim_block(out: &mut String, result: &ClaimResult, th: &Thresholds, paint: &Paint) {
    let verdict = super::claim_verdict(result.holds);
    let verdict = if result.holds { paint.green(verdict) } else { paint.red(verdict) };
    let says = wrap(&result.claim.says, WIDTH - 4 - super::claim_verdict(result.holds).len());
    for (i, line) in says.iter().enumerate() {
        if i == 0 {
            let _ = writeln!(out, "  {verdict}  {}", paint.bold(line));
        } else {
            let _ = writeln!(out, "  {:w$}  {}", "", paint.bold(line), w = super::claim_verdict(result.holds).len());
        }
    }
    let scope = format!("claimed: {}", super::claim_scope(&result.claim, str::to_string));
    for line in wrap(&scope, WIDTH - 4) {
        let _ = writeln!(out, "    {}", paint.dim(&line));
    }
    if result.rows.is_empty() {
        for line in wrap(&super::claim_uncovered(&result.claim), WIDTH - 4) {
            let _ = writeln!(out, "    {line}");
        }
        return;
    }
    // Every row when there are few; else the ones that break the claim
    // (those say where it fails), the rest counted.
    let shown: Vec<&ClaimRow> = if result.rows.len() <= CLAIM_ROWS {
        result.rows.iter().collect()
    } else if result.holds {
        result.rows.iter().take(CLAIM_ROWS).collect()
    } else {
        result.rows.iter().filter(|r| !r.holds).take(CLAIM_ROWS).collect()
    };
    let mut rows: Vec<[String; 7]> = shown.iter().map(|r| super::claim_cells(r)).collect();
    let columns = (super::CLAIM_COLUMNS.map(|(h, _)| h), super::CLAIM_COLUMNS.map(|(_, n)| n));
    let (mut header, mut lines) = table(columns.0, columns.1, &rows);
    // A scenario name too long for the width is cut, not the numbers.
    let widest = lines.iter().chain([&header]).map(|l| l.chars().count()).max().unwrap_or(0);
    if widest + 4 > WIDTH {
        let keep = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0).saturating_sub(widest + 4 - WIDTH);
        for row in &mut rows {
            if row[0].chars().count() > keep {
                row[0] = row[0].chars().take(keep.saturating_sub(1)).chain(['…']).collect();
            }
        }
        (header, lines) = table(columns.0, columns.1, &rows);
    }
    let _ = writeln!(out, "{}", paint.dim(&clip(&format!("    {header}"))));
    // A reason under its row while that stays short, else folded after.
    let inline = shown.len() <= 4;
    for (line, row) in lines.iter().zip(&shown) {
        let line = clip(&format!("    {line}"));
        let _ = writeln!(out, "{}", if row.holds { line } else { paint.yellow(&line) });
        if let Some(reason) = row.reason.as_deref().filter(|_| inline) {
            for l in wrap(reason, WIDTH - 8) {
                let _ = writeln!(out, "{}", paint.dim(&format!("      {l}")));
            }
        }
    }
    let hidden = result.rows.len() - shown.len();
    if hidden > 0 {
        let holding = result.rows.iter().filter(|r| r.holds).count() - shown.iter().filter(|r| r.holds).count();
        let line = format!(
            "... and {} ({holding} as claimed): every row in report.md",
            super::plural(hidden, "more comparison", "more comparisons")
        );
        let _ = writeln!(out, "    {}", paint.dim(&line));
    }
    if !inline {
        let reasons = shown.iter().filter_map(|r| r.reason.as_deref());
        for (reasons, text) in fold_reasons(reasons, th) {
            let line = format!("{}: {text}", super::plural(reasons.len(), "row", "rows"));
            for (i, l) in wrap(&line, WIDTH - 8).iter().enumerate() {
                let _ = writeln!(out, "{}", paint.dim(&format!("    {}{l}", if i == 0 { "" } else { "  " })));
            }
        }
    }
}

/// Rows of a claim the terminal lists; more are counted (report.md has all).
const CLAIM_ROWS: usize = 10;

/// Groups reasons by their [`Fold`] kind (or, without one, by their text),
/// in order of first appearance, each group with what to say for it: the
/// shared reason when all are the same text (it says more than its kind),
/// else the kind in words.
fn fold_reasons<'a>(reasons: impl Iterator<Item = &'a str>, th: &Thresholds) -> Vec<(Vec<&'a str>, String)> {
    let mut groups: Vec<(Result<Fold, &str>, Vec<&str>)> = Vec::new();
    for reason in reasons {
        let key = Fold::of(reason).ok_or(reason);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(reason),
            None => groups.push((key, vec![reason])),
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let text = match key {
                Ok(kind) if members.iter().any(|r| *r != members[0]) => kind.label(th),
                _ => members[0].to_string(),
            };
            (members, text)
        })
        .collect()
}

/// The kinds of inconclusive comparison that say "these boots cannot tell"
/// rather than show an effect: folded into one line each, since with many
/// comparisons they would bury the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    NoisyHost,
    FewBoots,
    NoPossibleP,
    TooNoisy,
    NotSignificant,
}

impl Fold {
    /// The kind of a reason, recognised by how `diff` words it; a reason of
    /// no known kind keeps its row.
    fn of(reason: &str) -> Option<Fold> {
        let few_boots = || {
            let mut words = reason.split(' ');
            let number = |w: Option<&str>| w.is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
            number(words.next())
                && words.next() == Some("and")
                && number(words.next())
                && reason.contains(" boots: at least ")
        };
        if reason.starts_with("host too noisy to judge") {
            Some(Fold::NoisyHost)
        } else if few_boots() {
            Some(Fold::FewBoots)
        } else if reason.starts_with("with ") && reason.contains("no difference can reach") {
            Some(Fold::NoPossibleP)
        } else if reason.starts_with("too noisy to judge at") {
            Some(Fold::TooNoisy)
        } else if reason.starts_with("not significant") {
            Some(Fold::NotSignificant)
        } else {
            None
        }
    }

    /// The kind in words, for a line that counts several reasons.
    fn label(self, th: &Thresholds) -> String {
        match self {
            Fold::NoisyHost => {
                "host too noisy to judge: too few boots left once the noisy ones are left out".to_string()
            }
            Fold::FewBoots => format!("too few boots to judge: at least {} per side are needed", th.min_boots),
            Fold::NoPossibleP => "too few boots for any difference to reach significance".to_string(),
            Fold::TooNoisy => "too noisy to judge: the boots spread more than the change".to_string(),
            Fold::NotSignificant => {
                "not significant, and the interval too wide to call it unchanged: more boots could tell".to_string()
            }
        }
    }
}

/// The comparison table without the unchanged rows, which are counted, and
/// without the inconclusive ones [`fold_kind`] folds, counted per kind.
fn metrics(out: &mut String, summary: &Summary, counts: &Counts, paint: &Paint) {
    if summary.comparisons.is_empty() {
        let _ = writeln!(out, "\nno metrics measured");
        return;
    }
    let unchanged = super::plural(counts.unchanged, "metric unchanged", "metrics unchanged");
    let fold = |c: &Comparison| {
        if c.change == Change::Inconclusive && c.expected.is_none() {
            c.reason.as_deref().and_then(Fold::of)
        } else {
            None
        }
    };
    let folded: Vec<&Comparison> = summary.comparisons.iter().filter(|c| fold(c).is_some()).collect();
    let reasons = folded.iter().filter_map(|c| c.reason.as_deref());
    let fold_lines: Vec<String> = fold_reasons(reasons, &summary.thresholds)
        .into_iter()
        .map(|(members, text)| {
            let mut line = format!("{} inconclusive ({text})", super::plural(members.len(), "metric", "metrics"));
            // The biggest effect among them, so a large change the boots
            // cannot confirm is not hidden in a count.
            let group = folded.iter().filter(|c| c.reason.as_deref().is_some_and(|r| members.contains(&r)));
            let size = |c: &&&Comparison| c.ratio.filter(|r| *r > 0.0).map_or(0.0, |r| r.ln().abs());
            // The first of the largest, in the table's order.
            let largest = group.fold(None, |best: Option<&&Comparison>, c| match best {
                Some(b) if size(&b) >= size(&c) => Some(b),
                _ => Some(c),
            });
            if let Some(c) = largest {
                if size(&c) > (1.0 + summary.thresholds.min_effect).ln() {
                    let _ = write!(
                        line,
                        "; the largest change: {} {}",
                        super::comparison_name(c),
                        num::ratio_ci(c.ratio, c.ci95)
                    );
                }
            }
            line
        })
        .collect();
    let shown: Vec<&Comparison> =
        summary.comparisons.iter().filter(|c| c.change != Change::Unchanged && fold(c).is_none()).collect();
    let tail = |out: &mut String| {
        if counts.unchanged > 0 {
            let _ = writeln!(out, "  {unchanged}");
        }
        for line in &fold_lines {
            for (i, l) in wrap(line, WIDTH - 6).iter().enumerate() {
                let _ = writeln!(out, "  {}{l}", if i == 0 { "" } else { "    " });
            }
        }
        if !fold_lines.is_empty() {
            let _ = writeln!(out, "  {}", paint.dim("(each inconclusive comparison, its numbers and why: report.md)"));
        }
    };
    if shown.is_empty() {
        let _ = writeln!(out, "\nMetrics");
        tail(out);
        return;
    }
    // Units next to the numbers, or next to the metric when that is what
    // keeps the table within the width.
    let mut built = metric_table(&shown, true);
    if built.1.iter().chain([&built.0]).any(|l| l.chars().count() + 4 > WIDTH) {
        built = metric_table(&shown, false);
    }
    let (header, lines) = built;
    // The header's first column is the rows' metric, which sits under a
    // line naming the scenario and vCPUs: the section title takes its place.
    let title = "Metrics";
    let rest = clip(&format!("    {header}")).get(title.len()..).unwrap_or_default().to_string();
    let _ = writeln!(out, "\n{}{}", paint.bold(title), paint.dim(&rest));
    let mut group = None;
    for (line, c) in lines.iter().zip(&shown) {
        if group != Some((&c.scenario, c.vcpus)) {
            group = Some((&c.scenario, c.vcpus));
            let _ = writeln!(out, "  {}", paint.bold(&format!("{}, {} vCPUs", c.scenario, c.vcpus)));
        }
        let line = clip(&format!("    {line}"));
        let line = match (c.change, c.expected.is_some()) {
            (_, true) => paint.dim(&line),
            (Change::Regressed, false) if !c.gating => paint.yellow(&line),
            (Change::Regressed, false) => paint.red(&line),
            (Change::Improved, false) => paint.green(&line),
            _ => paint.yellow(&line),
        };
        let _ = writeln!(out, "{line}");
        if let Some(reason) = c.reason.as_deref().filter(|_| c.change == Change::Inconclusive) {
            for l in wrap(reason, WIDTH - 6) {
                let _ = writeln!(out, "{}", paint.dim(&format!("      {l}")));
            }
        }
    }
    if shown.iter().any(|c| c.baseline.noisy_boots + c.candidate.noisy_boots > 0) {
        let _ =
            writeln!(out, "  {}", paint.dim("* boots left out: the host was busy while they ran (Host noise, below)"));
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
    tail(out);
}

/// The metric table's header and rows (without the scenario and vCPUs,
/// which head groups of rows); `units`: `4.31 ms ±8%` in the value
/// columns, else the unit goes with the metric's name (narrower).
fn metric_table(shown: &[&Comparison], units: bool) -> (String, Vec<String>) {
    let rows: Vec<[String; 7]> = shown
        .iter()
        .map(|c| {
            let (metric, unit) =
                if units { (c.metric.clone(), c.unit.as_str()) } else { (format!("{} ({})", c.metric, c.unit), "") };
            // The noisy boots left out are marked, not counted: the
            // host-noise note says how many.
            let noisy = if c.baseline.noisy_boots + c.candidate.noisy_boots > 0 { "*" } else { "" };
            [
                metric,
                num::median_spread(c.baseline.median, c.baseline.spread, unit),
                num::median_spread(c.candidate.median, c.candidate.spread, unit),
                format!("{} vs {}{noisy}", c.baseline.boots, c.candidate.boots),
                num::ratio_ci(c.ratio, c.ci95),
                num::p_value(c.p_adjusted),
                super::change_label(c),
            ]
        })
        .collect();
    table(
        ["", "baseline", "candidate", "boots", "ratio [95% CI]", "p (adj.)", "change"],
        [false, true, true, true, false, true, false],
        &rows,
    )
}

/// A header and rows padded to columns; the `right` ones right-aligned so
/// the magnitudes of numbers line up.
fn table<const N: usize>(header: [&str; N], right: [bool; N], rows: &[[String; N]]) -> (String, Vec<String>) {
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
