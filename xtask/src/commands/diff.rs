//! `cargo xtask diff`: compare one variant of a stored run with one of
//! another (yesterday's candidate with today's, say).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::diff::{self, CellResult, Side};
use crate::progress::Silent;
use crate::results::{self, RunDir};
use crate::{project, run_report};

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
            let stored = RunDir::open(run)?;
            let manifest = stored.manifest();
            let variant = variant.clone().unwrap_or_else(|| manifest.inputs.candidate.clone());
            if !manifest.inputs.variants.iter().any(|v| v.name == variant) {
                let known: Vec<&str> = manifest.inputs.variants.iter().map(|v| v.name.as_str()).collect();
                anyhow::bail!("{}: no variant `{variant}` (it has: {})", run.display(), known.join(", "));
            }
            let (cells, _) = stored.read_cells()?;
            let cells = cells.into_iter().filter(|c| c.key.variant == variant).collect();
            Ok((manifest.run_id.clone(), variant, cells))
        };
        let (id_a, variant_a, cells_a) = load(&self.run_a, &self.a_variant)?;
        let (id_b, variant_b, cells_b) = load(&self.run_b, &self.b_variant)?;
        // The thresholds and expected changes of the newer run apply.
        let config = RunDir::open(&self.run_b)?.manifest().inputs.diff.clone();
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
        run_report::publish(&summary, &out, false, &Silent)?;
        Ok(ExitCode::from(summary.status.exit_code()))
    }
}
