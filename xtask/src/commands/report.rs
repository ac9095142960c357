//! `cargo xtask report`: re-render a stored matrix run's reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::progress::Silent;
use crate::run_report;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (results/<run-id>)
    pub run: PathBuf,
}

impl ReportArgs {
    pub fn run(self) -> Result<ExitCode> {
        Ok(ExitCode::from(run_report::report_run(&self.run, false, &Silent)?.exit_code()))
    }
}
