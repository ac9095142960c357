//! `junit.xml`: the comparison as test results, so a CI server shows which
//! cell failed and which metric regressed without anyone opening a report.
//!
//! Two suites. `cells`: one test case per cell of either side, failed when
//! the kernel's verdict is not PASS, an error when the rig could not judge
//! (INFRA: not the kernel's fault, but not a pass either). `metrics`: one
//! test case per comparison, failed on a regression nobody expected, and one
//! per correctness regression finding, always failed.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{escape, num};
use crate::diff::{CellSummary, Comparison, Distribution, Finding, Summary};
use crate::diff_config::Change;
use crate::outcome::Verdict;

pub fn render(summary: &Summary) -> String {
    let cells = cells_suite(summary);
    let metrics = metrics_suite(summary);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let name = format!("modrig: baseline {} vs candidate {}", summary.baseline, summary.candidate);
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        attr(&name),
        cells.tests + metrics.tests,
        cells.failures + metrics.failures,
        cells.errors + metrics.errors,
        seconds(cells.time_ms + metrics.time_ms),
    );
    out.push_str(&cells.render("cells"));
    out.push_str(&metrics.render("metrics"));
    out.push_str("</testsuites>\n");
    out
}

/// A suite being assembled: its counts and its test cases' XML.
#[derive(Default)]
struct Suite {
    tests: usize,
    failures: usize,
    errors: usize,
    time_ms: f64,
    body: String,
}

/// What became of one test case.
enum Outcome {
    Passed,
    Failed { kind: String, message: String, text: String },
    Error { kind: String, message: String, text: String },
}

impl Suite {
    fn case(&mut self, classname: &str, name: &str, time_ms: f64, outcome: Outcome, out: &str) {
        self.tests += 1;
        self.time_ms += time_ms;
        let mut children = String::new();
        let element = match outcome {
            Outcome::Passed => None,
            Outcome::Failed { kind, message, text } => {
                self.failures += 1;
                Some(("failure", kind, message, text))
            }
            Outcome::Error { kind, message, text } => {
                self.errors += 1;
                Some(("error", kind, message, text))
            }
        };
        if let Some((tag, kind, message, text)) = element {
            let _ = write!(
                children,
                "\n      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
                attr(&kind),
                attr(&message),
                escape(&text)
            );
        }
        if !out.is_empty() {
            let _ = write!(children, "\n      <system-out>{}</system-out>", escape(out));
        }
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            attr(classname),
            attr(name),
            seconds(time_ms)
        );
        if children.is_empty() {
            let _ = writeln!(self.body, "{open}/>");
        } else {
            let _ = writeln!(self.body, "{open}>{children}\n    </testcase>");
        }
    }

    fn render(&self, name: &str) -> String {
        format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">\n{}  </testsuite>\n",
            self.tests,
            self.failures,
            self.errors,
            seconds(self.time_ms),
            self.body
        )
    }
}

fn cells_suite(summary: &Summary) -> Suite {
    let mut suite = Suite::default();
    for cell in &summary.cells {
        // The side in the class name keeps two runs of one variant apart
        // (their cells have the same names).
        let classname = format!("modrig.cells.{}", cell.side);
        let outcome = match cell.verdict {
            Verdict::Pass => Outcome::Passed,
            Verdict::Infra => Outcome::Error { kind: "INFRA".to_string(), message: message(cell), text: details(cell) },
            verdict => Outcome::Failed { kind: verdict.to_string(), message: message(cell), text: details(cell) },
        };
        let out = format!("console log: {}", cell.console_log.display());
        suite.case(&classname, &cell.key.rel_dir(), cell.wall_ms, outcome, &out);
    }
    suite
}

/// `PANIC: reason; reason`, the line a CI server shows.
fn message(cell: &CellSummary) -> String {
    if cell.reasons.is_empty() {
        cell.verdict.to_string()
    } else {
        format!("{}: {}", cell.verdict, cell.reasons.join("; "))
    }
}

fn details(cell: &CellSummary) -> String {
    let mut text = String::new();
    for reason in &cell.reasons {
        let _ = writeln!(text, "{reason}");
    }
    if !cell.event_classes.is_empty() {
        let classes: Vec<&str> = cell.event_classes.iter().map(|c| c.name()).collect();
        let _ = writeln!(text, "kernel events: {}", classes.join(", "));
    }
    let _ = write!(text, "console log: {}", cell.console_log.display());
    text
}

fn metrics_suite(summary: &Summary) -> Suite {
    let mut suite = Suite::default();
    for c in &summary.comparisons {
        let numbers = numbers(c);
        let outcome = if c.is_regression() {
            Outcome::Failed { kind: "regressed".to_string(), message: numbers.clone(), text: numbers.clone() }
        } else {
            Outcome::Passed
        };
        let out = match &c.expected {
            Some(why) => format!("{numbers}\nexpected: {why}"),
            None => numbers,
        };
        suite.case(&format!("modrig.metrics.{}", c.scenario), &super::comparison_name(c), 0.0, outcome, &out);
    }
    // A scenario × vCPUs can have several findings of one kind (a new
    // event class each): number the repeats so every name is unique.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for f in summary.findings.iter().filter(|f| f.kind.is_regression()) {
        let base = format!("{}/{}cpu/{}", f.scenario, f.vcpus, super::finding_kind(f));
        let count = seen.entry(base.clone()).or_default();
        *count += 1;
        let name = if *count == 1 { base } else { format!("{base} #{count}") };
        let outcome = Outcome::Failed { kind: "correctness".to_string(), message: f.detail.clone(), text: evidence(f) };
        suite.case(&format!("modrig.correctness.{}", f.scenario), &name, 0.0, outcome, "");
    }
    suite
}

/// One line with every number of a comparison, then why it is
/// inconclusive when it is: `regressed: baseline median 4.31 ms ±8% (6
/// boots, n=300), candidate ..., ratio 2.00x [1.9, 2.1], p=0.0022
/// (adjusted 0.0065)`.
fn numbers(c: &Comparison) -> String {
    let side = |d: &Distribution| {
        let noisy = if d.noisy_boots > 0 { format!(", {} noisy left out", d.noisy_boots) } else { String::new() };
        format!("median {} ({} boots{noisy}, n={})", num::median_spread(d.median, d.spread, &c.unit), d.boots, d.n)
    };
    let mut text = format!(
        "{}: baseline {}, candidate {}, ratio {}, p={} (adjusted {})",
        super::change_label(c),
        side(&c.baseline),
        side(&c.candidate),
        num::ratio_ci(c.ratio, c.ci95),
        num::p_value(c.p_value),
        num::p_value(c.p_adjusted)
    );
    if let Some(d) = c.detectable_ratio {
        // How big a change these boots could see at all.
        let _ = write!(text, ", detectable beyond ×{}", num::sig(d, 3));
    }
    if let Some(reason) = c.reason.as_deref().filter(|_| c.change == Change::Inconclusive) {
        let _ = write!(text, "; {reason}");
    }
    text
}

fn evidence(f: &Finding) -> String {
    let mut text = format!("{}\n", f.detail);
    if let Some(cell) = &f.cell {
        let _ = writeln!(text, "cell: {cell}");
    }
    if let Some(log) = &f.console_log {
        let _ = writeln!(text, "console log: {}", log.display());
    }
    if let Some(excerpt) = &f.excerpt {
        let _ = write!(text, "\n{excerpt}");
    }
    text.trim_end().to_string()
}

/// An attribute value: parsers turn a raw line break in one into a space,
/// so keep them as character references.
fn attr(text: &str) -> String {
    escape(text).replace('\n', "&#10;").replace('\r', "&#13;").replace('\t', "&#9;")
}

/// JUnit times are seconds with a decimal point.
fn seconds(ms: f64) -> String {
    format!("{:.3}", ms / 1e3)
}
