//! `report.html`: the markdown report's content plus a plot of both
//! distributions per comparison, in one self-contained file (inline CSS and
//! SVG, no script, nothing fetched), so it can be attached to a mail or
//! archived by CI and still open years later.

use std::fmt::Write;

use super::{escape, num, svg};
use crate::diff::{ClaimResult, Comparison, Finding, Summary};
use crate::diff_config::Change;

/// Side colours: blue and orange stay distinct for the common kinds of
/// colour blindness, and neither reads as "bad" the way red would.
const BASELINE_COLOR: &str = "#1f77b4";
const CANDIDATE_COLOR: &str = "#ff7f0e";

// Laid out for a 1400 px window without horizontal scrolling: the body is
// at most 1200 px, tables take its width and wrap their cells (long paths
// and words anywhere), numbers are a little smaller, plots shrink to fit,
// and only a kernel report's <pre> scrolls, inside its own box.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.4em;overflow-wrap:anywhere}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.05em}
code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em}
code{overflow-wrap:anywhere}
pre{background:#f6f8fa;border:1px solid #ddd;padding:.6em;overflow-x:auto;max-width:100%;box-sizing:border-box}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;max-width:100%}
table.wide{width:100%}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums;font-size:.92em}
td.n,td.nw{white-space:nowrap}td.wrap{white-space:normal}
th{background:#f6f8fa;overflow-wrap:normal}
small,.why{color:#555;font-size:.85em}
.why{display:block;margin-top:.2em}
.status{display:inline-block;padding:.2em .6em;border-radius:.3em;font-weight:bold;color:#fff}
.clean,.holds{background:#2a7d2a}.regressed,.fails{background:#c0392b}.infra{background:#b7791f}
.verdict{display:inline-block;padding:.1em .5em;border-radius:.3em;font-weight:bold;color:#fff;font-size:.9em}
tr.regressed td{background:#fdecea}tr.improved td{background:#eaf6ea}tr.expected td{color:#666}
tr.no td{background:#fdf3e6}
.note{background:#fdf3e6;border-left:4px solid #b7791f;padding:.4em .8em}
figure{display:inline-block;margin:.5em 1em 1em 0;vertical-align:top;max-width:100%}
svg.plot{max-width:100%;height:auto}
figcaption{font-size:.9em;max-width:640px}
.muted{color:#666}
";

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let title = super::headline(summary, str::to_string);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>modrig: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", super::headline(summary, |name| format!("<code>{}</code>", escape(name))));
    let status_class = super::status_name(summary.status);
    let _ = writeln!(
        out,
        "<p><span class=\"status {status_class}\">{}</span> (exit {}): {}</p>",
        escape(&status_class.to_uppercase()),
        summary.status.exit_code(),
        escape(super::status_why(summary.status))
    );
    if !summary.runs.is_empty() {
        let runs: Vec<String> = summary.runs.iter().map(|r| format!("<code>{}</code>", escape(r))).collect();
        let _ = writeln!(out, "<p class=\"muted\">Runs: {}</p>", runs.join(", "));
    }

    claims(&mut out, summary);
    findings(&mut out, summary);
    if let Some(note) = super::host_noise(summary) {
        let _ = writeln!(out, "<h2>Host noise</h2>\n<p class=\"note\">{}</p>", escape(&note));
    }
    comparisons(&mut out, summary);
    plots(&mut out, summary);

    let _ = writeln!(out, "<h2>Method and thresholds</h2>\n<ul>");
    for line in super::method_lines(summary) {
        let _ = writeln!(out, "<li>{}</li>", escape(&line));
    }
    let _ = writeln!(out, "</ul>");

    cells(&mut out, summary);
    out.push_str("</body>\n</html>\n");
    out
}

/// Each claim with a badge saying whether it held, and its comparisons.
fn claims(out: &mut String, summary: &Summary) {
    if summary.claims.is_empty() {
        return;
    }
    let _ = writeln!(out, "<h2 id=\"claims\">Claims: {}</h2>", escape(&super::claims_tally(summary)));
    for claim in &summary.claims {
        claim_section(out, claim);
    }
}

fn claim_section(out: &mut String, result: &ClaimResult) {
    let claim = &result.claim;
    let class = if result.holds { "holds" } else { "fails" };
    let _ = writeln!(
        out,
        "<h3><span class=\"verdict {class}\">{}</span> {}</h3>\n<p>Claimed: {}.</p>",
        super::claim_verdict(result.holds),
        escape(&claim.says),
        super::claim_scope(claim, |m| format!("<code>{}</code>", escape(m)))
    );
    if result.rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(&super::claim_uncovered(claim)));
        return;
    }
    let header: String = super::CLAIM_COLUMNS.iter().map(|(name, _)| format!("<th>{}</th>", escape(name))).collect();
    let _ = writeln!(out, "<table>\n<tr>{header}</tr>");
    for row in &result.rows {
        let cells = super::claim_cells(row);
        let mut tds = String::new();
        for (i, (cell, (_, numeric))) in cells.iter().zip(super::CLAIM_COLUMNS).enumerate() {
            let class = if numeric {
                " class=\"n\""
            } else if i >= 3 {
                " class=\"nw\""
            } else {
                ""
            };
            let _ = write!(tds, "<td{class}>{}", escape(cell));
            // The reason sits under the change it explains.
            if i == 2 {
                if let Some(reason) = &row.reason {
                    let _ = write!(tds, "<span class=\"why\">{}</span>", escape(reason));
                }
            }
            tds.push_str("</td>");
        }
        let class = if row.holds { "" } else { " class=\"no\"" };
        let _ = writeln!(out, "<tr{class}>{tds}</tr>");
    }
    let _ = writeln!(out, "</table>");
}

fn findings(out: &mut String, summary: &Summary) {
    let regressions: Vec<&Finding> = summary.findings.iter().filter(|f| f.kind.is_regression()).collect();
    if !regressions.is_empty() {
        let _ = writeln!(out, "<h2>Correctness regressions</h2>");
        let repeated = super::repeated_excerpts(&regressions);
        for (f, repeated) in regressions.into_iter().zip(repeated) {
            let _ = writeln!(
                out,
                "<h3>{}: {}, {} vCPUs</h3>\n<p>{}</p>",
                escape(&super::finding_kind(f)),
                escape(&f.scenario),
                f.vcpus,
                prose(&f.detail)
            );
            if let Some(cell) = &f.cell {
                let log = f
                    .console_log
                    .as_ref()
                    .map(|l| format!(", console log <code>{}</code>", escape(&l.display().to_string())))
                    .unwrap_or_default();
                let _ = writeln!(out, "<p>Cell <code>{}</code>{log}</p>", escape(cell));
            }
            if repeated {
                let _ = writeln!(out, "<p class=\"muted\">The kernel report quoted above.</p>");
            } else if let Some(excerpt) = &f.excerpt {
                // The whole report: a browser scrolls, unlike a review comment.
                let _ = writeln!(out, "<pre>{}</pre>", escape(excerpt.trim_end()));
            }
        }
    }
    let others: Vec<&Finding> = summary.findings.iter().filter(|f| !f.kind.is_regression()).collect();
    if !others.is_empty() {
        let _ = writeln!(out, "<h2>Other findings</h2>\n<table class=\"wide\">");
        let _ = writeln!(out, "<tr><th>finding</th><th>scenario</th><th>vCPUs</th><th>detail</th><th>cell</th></tr>");
        for f in others {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&super::finding_kind(f)),
                escape(&f.scenario),
                f.vcpus,
                prose(&f.detail),
                f.cell.as_deref().map(|c| format!("<code>{}</code>", escape(c))).unwrap_or_default()
            );
        }
        let _ = writeln!(out, "</table>");
    }
}

/// A row's class: colours the regressions and improvements.
fn row_class(c: &Comparison) -> Option<&'static str> {
    match (c.change, c.expected.is_some()) {
        (_, true) => Some("expected"),
        (Change::Regressed, false) if !c.gating => Some("expected"),
        (Change::Regressed, false) => Some("regressed"),
        (Change::Improved, false) => Some("improved"),
        _ => None,
    }
}

/// Escapes `text` and turns its `code spans` (diff writes event classes
/// that way) into `<code>`.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let parts: Vec<&str> = text.split('`').collect();
    // An odd count of parts means the backticks pair up.
    let paired = parts.len() % 2 == 1;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && paired {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            if i > 0 && !paired {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

fn has_plot(c: &Comparison) -> bool {
    c.baseline.n > 0 && c.candidate.n > 0
}

/// The table of every comparison: where, each side's median ± spread
/// with the pooled tail under it, boots, ratio, p and the change with its
/// explanation or reason (the cells of [`super::rows`], as markdown has
/// them, in fewer and wrapping columns).
fn comparisons(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "<h2>Metrics</h2>");
    if summary.comparisons.is_empty() {
        let _ = writeln!(out, "<p>No metrics measured.</p>");
        return;
    }
    let _ = writeln!(out, "<p>{}</p>", escape(super::TABLE_LEGEND));
    let _ = writeln!(
        out,
        "<table class=\"wide\">\n<colgroup><col style=\"width:20%\"><col style=\"width:12%\"><col style=\"width:12%\">\
         <col style=\"width:7%\"><col style=\"width:13%\"><col style=\"width:5%\"><col></colgroup>\n\
         <tr><th>scenario · vCPUs · metric</th><th>baseline <code>{}</code><br><small>median ±spread<br>p99 / max</small></th>\
         <th>candidate <code>{}</code><br><small>median ±spread<br>p99 / max</small></th><th>boots</th>\
         <th>ratio [95% CI]</th><th>p (adj.)</th><th>change</th></tr>",
        escape(&summary.baseline),
        escape(&summary.candidate)
    );
    for (i, row) in super::rows(summary).iter().enumerate() {
        let c = row.c;
        let mut change = if row.strong || row.expected.is_some() {
            format!("<b>{}</b>", escape(&row.change))
        } else {
            escape(&row.change)
        };
        if let Some(why) = row.expected {
            let _ = write!(change, ": {}", prose(why));
        }
        if let Some(reason) = row.reason {
            let _ = write!(change, "<span class=\"why\">{}</span>", prose(reason));
        }
        // The metric links to its plot.
        let metric =
            if has_plot(c) { format!("<a href=\"#plot-{i}\">{}</a>", escape(&c.metric)) } else { escape(&c.metric) };
        let _ = writeln!(
            out,
            "<tr{}><td>{} · {} vCPUs<br>{metric}</td>\
             <td class=\"n\">{}<br><small>{}</small></td><td class=\"n\">{}<br><small>{}</small></td>\
             <td class=\"n wrap\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{change}</td></tr>",
            row_class(c).map(|class| format!(" class=\"{class}\"")).unwrap_or_default(),
            escape(&c.scenario),
            c.vcpus,
            escape(&row.baseline),
            escape(&row.baseline_tail),
            escape(&row.candidate),
            escape(&row.candidate_tail),
            escape(&row.boots),
            escape(&row.ratio),
            escape(&row.p),
        );
    }
    let _ = writeln!(out, "</table>");
}

/// A figure per comparison with samples on both sides; the unchanged ones
/// folded away, since nobody needs to look at them first.
fn plots(out: &mut String, summary: &Summary) {
    let plotted: Vec<(usize, &Comparison)> =
        summary.comparisons.iter().enumerate().filter(|(_, c)| has_plot(c)).collect();
    if plotted.is_empty() {
        return;
    }
    let _ = writeln!(out, "<h2>Distributions</h2>");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Empirical CDF of every sample (the further left, the smaller), \
         and box plots (quartiles, whiskers at 1.5 IQR, outliers as circles).</p>"
    );
    let (folded, shown): (Vec<_>, Vec<_>) = plotted.into_iter().partition(|(_, c)| c.change == Change::Unchanged);
    for (i, c) in shown {
        figure(out, summary, i, c);
    }
    if !folded.is_empty() {
        let _ = writeln!(out, "<details><summary>{} unchanged</summary>", folded.len());
        for (i, c) in folded {
            figure(out, summary, i, c);
        }
        let _ = writeln!(out, "</details>");
    }
}

fn figure(out: &mut String, summary: &Summary, index: usize, c: &Comparison) {
    let baseline = format!("baseline {}", summary.baseline);
    let candidate = format!("candidate {}", summary.candidate);
    let series = [
        svg::Series { label: &baseline, color: BASELINE_COLOR, samples: &c.baseline.samples },
        svg::Series { label: &candidate, color: CANDIDATE_COLOR, samples: &c.candidate.samples },
    ];
    let name = super::comparison_name(c);
    let axis = format!("{} ({})", c.metric, c.unit);
    let Some(plot) = svg::distributions(&name, &axis, &series) else {
        return;
    };
    let better = if c.higher_is_better { "higher is better" } else { "lower is better" };
    let _ = writeln!(
        out,
        "<figure id=\"plot-{index}\">{plot}<figcaption><b>{}</b>: {}, ratio {}, {} boots, \
         p = {} (adjusted {}) ({better})</figcaption></figure>",
        escape(&name),
        escape(&super::change_label(c)),
        escape(&num::ratio_ci(c.ratio, c.ci95)),
        escape(&super::boots(c)),
        escape(&num::p_value(c.p_value)),
        escape(&num::p_value(c.p_adjusted)),
    );
}

fn cells(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "<h2>Cells</h2>\n<table>");
    let _ = writeln!(
        out,
        "<tr><th>side</th><th>variant</th><th>PASS</th><th>FAIL</th><th>HANG</th><th>PANIC</th><th>INFRA</th></tr>"
    );
    for (side, name) in [("baseline", &summary.baseline), ("candidate", &summary.candidate)] {
        let counts: String = super::tally(summary, name).iter().map(|n| format!("<td class=\"n\">{n}</td>")).collect();
        let _ = writeln!(out, "<tr><td>{side}</td><td><code>{}</code></td>{counts}</tr>", escape(name));
    }
    let _ = writeln!(out, "</table>");
    let troubled: Vec<_> = super::troubled_cells(summary).collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "<p>Cells that did not pass:</p>\n<table class=\"wide\">");
        let _ = writeln!(
            out,
            "<tr><th>cell</th><th>side</th><th>verdict</th><th>wall</th><th>kernel events</th>\
             <th>reasons</th><th>console log</th></tr>"
        );
        for cell in troubled {
            let events: Vec<&str> = cell.event_classes.iter().map(|e| e.name()).collect();
            let reasons: Vec<String> = cell.reasons.iter().map(|r| escape(r)).collect();
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td>{}</td><td><code>{}</code></td></tr>",
                escape(&cell.key.rel_dir()),
                escape(&cell.side),
                cell.verdict,
                num::seconds(cell.wall_ms),
                events.join(", "),
                reasons.join("<br>"),
                escape(&cell.console_log.display().to_string())
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let passed = summary.cells.len() - super::troubled_cells(summary).count();
    let _ = writeln!(out, "<p>{passed} of {} cells passed.</p>", summary.cells.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_turns_code_spans_into_code() {
        assert_eq!(prose("`bug` in <x>"), "<code>bug</code> in &lt;x&gt;");
        assert_eq!(prose("a ` b"), "a ` b");
    }
}
