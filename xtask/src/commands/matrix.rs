//! `cargo xtask matrix`: build every variant, run every cell of the matrix
//! (or of one shard), then diff and report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use xshell::Shell;

use crate::commands::flags::{HostArgs, OutputArgs, ResultsArgs, SelectionArgs};
use crate::matrix::plan::Shard;
use crate::matrix::Matrix;
use crate::reporter::{self, Detail};
use crate::{inputs, matrix_job, run_report};

#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub host: HostArgs,
    #[command(flatten)]
    pub results: ResultsArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Finish an interrupted run: rerun only its cells without a verdict
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Run the K-th of N deterministic slices (join them with `cargo xtask merge`)
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Repetitions instead of the matrix file's
    #[arg(long, value_name = "N")]
    pub repetitions: Option<u32>,
}

impl MatrixArgs {
    pub fn run(self, sh: &Shell) -> Result<ExitCode> {
        let mut matrix = inputs::load_matrix(&self.host.matrix)?;
        self.apply_overrides(&mut matrix)?;
        let job = matrix_job::Job {
            scenarios: self.selection.scenarios.clone(),
            shard: self.shard,
            resume: self.resume.clone(),
            results: self.results.dir(),
            tag: None,
        };
        let reporter = reporter::for_command(self.output.json, Detail::Cells);
        let run_dir = matrix_job::execute(sh, &self.host.options(), &matrix, &job, reporter.as_ref())?;
        let status = run_report::report_run(&run_dir, self.output.json, reporter.as_ref())?;
        Ok(ExitCode::from(status.exit_code()))
    }

    fn apply_overrides(&self, matrix: &mut Matrix) -> Result<()> {
        let vcpus = self.selection.checked_vcpus()?;
        if !vcpus.is_empty() {
            matrix.vcpus = vcpus.to_vec();
        }
        if let Some(n) = self.repetitions {
            if n == 0 {
                bail!("--repetitions 0: expected at least 1");
            }
            // The flag means every scenario: it overrides a scenario's own too.
            matrix.repetitions = n;
            matrix.scenario_repetitions.iter_mut().for_each(|r| *r = None);
        }
        Ok(())
    }
}
