//! A stored matrix run's report: its baseline diffed against its candidate,
//! the reports written into the run directory, the terminal table printed.
//! What `matrix`, `report` and `merge` end with.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::diff::{self, Side, Status, Summary};
use crate::progress::{Progress, Reporter};
use crate::results::RunDir;
use crate::{fsutil, report};

/// Diffs a run's baseline against its candidate and writes its reports
/// into the run directory; prints the terminal table unless `quiet` (the
/// command reports JSON instead). The `Reported` event says where they went.
pub fn report_run(run: &Path, quiet: bool, reporter: &dyn Reporter) -> Result<Status> {
    let summary = summarize_run(run)?;
    publish(&summary, run, quiet, reporter)?;
    Ok(summary.status)
}

/// Writes `summary`'s reports into `dir`, prints the terminal table (in
/// colour on a terminal) and where the reports went unless `quiet`, and
/// reports them.
pub fn publish(summary: &Summary, dir: &Path, quiet: bool, reporter: &dyn Reporter) -> Result<()> {
    let written = write_reports(summary, dir)?;
    if !quiet {
        print!("{}", report::terminal(summary, std::io::IsTerminal::is_terminal(&std::io::stdout())));
        for path in &written {
            println!("  {}", path.display());
        }
    }
    let status = serde_json::to_value(summary.status)?.as_str().unwrap_or_default().to_string();
    reporter.report(&Progress::Reported {
        run_dir: dir.to_path_buf(),
        status,
        exit_code: summary.status.exit_code(),
        reports: written,
    });
    Ok(())
}

/// Writes `report.md`, `summary.json`, `junit.xml` and `report.html` into
/// `dir`, each atomically (a reader never sees half a report), and returns
/// their paths in [`report::FILES`] order.
pub fn write_reports(summary: &Summary, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for (name, text) in report::FILES.iter().zip(report::render_all(summary)?) {
        let path = dir.join(name);
        fsutil::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The summary of a stored run: its baseline against its candidate, with
/// log paths relative to the run directory.
pub fn summarize_run(run: &Path) -> Result<Summary> {
    let stored = RunDir::open(run)?;
    let manifest = stored.manifest();
    let (cells, missing) = stored.read_cells()?;
    let inputs = &manifest.inputs;
    let side = |variant: &str| Side {
        label: variant.to_string(),
        cells: cells.iter().filter(|c| c.key.variant == variant).collect(),
    };
    let mut runs = vec![manifest.run_id.clone()];
    runs.extend(manifest.merged_from.iter().map(|m| m.run_id.clone()));
    let mut summary = diff::diff(&side(&inputs.baseline), &side(&inputs.candidate), runs, &inputs.diff);
    summary.note_missing(&missing);
    summary.relativize(run);
    Ok(summary)
}

#[cfg(test)]
mod tests;
