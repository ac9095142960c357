//! `cargo xtask merge`: join the run directories of matrix shards into one
//! run, and report it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::commands::flags::ResultsArgs;
use crate::progress::Silent;
use crate::results::RunDir;
use crate::run_report;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run directories
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    #[command(flatten)]
    pub results: ResultsArgs,
}

impl MergeArgs {
    pub fn run(self) -> Result<ExitCode> {
        let results = self.results.dir();
        let merged = RunDir::merge(&self.runs, &results)?;
        eprintln!("merged {} runs into {}", self.runs.len(), merged.path().display());
        Ok(ExitCode::from(run_report::report_run(merged.path(), false, &Silent)?.exit_code()))
    }
}
