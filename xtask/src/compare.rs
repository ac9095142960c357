//! Commands over stored runs: `report` re-renders a run's reports, `diff`
//! compares two runs, `merge` joins shards. None of them boots anything.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::diff::{self, CellResult, Side, Status, Summary};
use crate::{project, report, results};

/// Diffs a run's baseline against its candidate, writes its reports into
/// the run directory and prints the terminal table. Returns the status.
pub fn report_run(run: &Path, color: bool) -> Result<Status> {
    let summary = summarize_run(run)?;
    let written = report::write_all(&summary, run)?;
    print!("{}", report::terminal(&summary, color && std::io::IsTerminal::is_terminal(&std::io::stdout())));
    for path in written {
        println!("  {}", path.display());
    }
    Ok(summary.status)
}

/// The summary of a stored run: its baseline against its candidate, with
/// log paths relative to the run directory.
pub fn summarize_run(run: &Path) -> Result<Summary> {
    let manifest = results::read_manifest(run)?;
    let (cells, missing) = results::read_cells(run, &manifest)?;
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

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (results/<run-id>)
    pub run: PathBuf,
}

impl ReportArgs {
    pub fn run(self) -> Result<ExitCode> {
        Ok(ExitCode::from(report_run(&self.run, true)?.exit_code()))
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older run (its cells are the baseline)
    pub run_a: PathBuf,
    /// The newer run (its cells are the candidate)
    pub run_b: PathBuf,
    /// Which variant of RUN_A to take (default: its candidate)
    #[arg(long, value_name = "NAME")]
    pub a_variant: Option<String>,
    /// Which variant of RUN_B to take (default: its candidate)
    #[arg(long, value_name = "NAME")]
    pub b_variant: Option<String>,
    /// Where the reports go (default: results/<time>-diff)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl DiffArgs {
    pub fn run(self) -> Result<ExitCode> {
        let load = |run: &Path, variant: &Option<String>| -> Result<(String, String, Vec<CellResult>)> {
            let manifest = results::read_manifest(run)?;
            let variant = variant.clone().unwrap_or_else(|| manifest.inputs.candidate.clone());
            if !manifest.inputs.variants.iter().any(|v| v.name == variant) {
                let known: Vec<&str> = manifest.inputs.variants.iter().map(|v| v.name.as_str()).collect();
                anyhow::bail!("{}: no variant `{variant}` (it has: {})", run.display(), known.join(", "));
            }
            let (cells, _) = results::read_cells(run, &manifest)?;
            let cells = cells.into_iter().filter(|c| c.key.variant == variant).collect();
            Ok((manifest.run_id, variant, cells))
        };
        let (id_a, variant_a, cells_a) = load(&self.run_a, &self.a_variant)?;
        let (id_b, variant_b, cells_b) = load(&self.run_b, &self.b_variant)?;
        // The thresholds and expected changes of the newer run apply.
        let config = results::read_manifest(&self.run_b)?.inputs.diff;
        let summary = diff::diff(
            &Side { label: format!("{id_a}:{variant_a}"), cells: cells_a.iter().collect() },
            &Side { label: format!("{id_b}:{variant_b}"), cells: cells_b.iter().collect() },
            vec![id_a.clone(), id_b.clone()],
            &config,
        );
        let out = match self.out {
            Some(dir) => {
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                dir
            }
            None => results::create_run_dir(&project::root().join("results"), "diff")?.1,
        };
        let written = report::write_all(&summary, &out)?;
        print!("{}", report::terminal(&summary, std::io::IsTerminal::is_terminal(&std::io::stdout())));
        for path in written {
            println!("  {}", path.display());
        }
        Ok(ExitCode::from(summary.status.exit_code()))
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run directories
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where the merged run goes (default: results/)
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
}

impl MergeArgs {
    pub fn run(self) -> Result<ExitCode> {
        let results = self.results.unwrap_or_else(|| project::root().join("results"));
        let merged = results::merge(&self.runs, &results)?;
        eprintln!("merged {} runs into {}", self.runs.len(), merged.display());
        Ok(ExitCode::from(report_run(&merged, true)?.exit_code()))
    }
}

#[cfg(test)]
mod tests;
