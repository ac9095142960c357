//! `cargo xtask calibrate`: one kernel against itself, through the normal
//! matrix path, to measure what the rig can and cannot tell apart on this
//! host.
//!
//! The kernel gets two variant names that share one build (the cache key is
//! the build's content, not its name), so the run is an ordinary matrix run:
//! interleaved ABBA boots, timing cells alone, the noisy-host guard, the
//! diff. Its boots are then cut into blocks of the matrix's repetitions, and
//! each block is one self-comparison (see `calibration`).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use xshell::Shell;

use crate::calibration::{self, Calibration};
use crate::commands::flags::{HostArgs, ResultsArgs, SelectionArgs};
use crate::matrix::Matrix;
use crate::matrix_job::{self, Job};
use crate::reporter::{self, Detail};
use crate::results::RunDir;
use crate::{fsutil, inputs, run_report};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The variant to compare with itself (default: the matrix's candidate)
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Boots per side in each self-comparison (default: the matrix's repetitions)
    #[arg(long, value_name = "R")]
    pub boots: Option<u32>,
    /// How many self-comparisons to run (each costs R boots per side)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub comparisons: u32,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub results: ResultsArgs,
    /// Exit 1 unless the calibration is within the rig's promise (no gating
    /// false alarm, at most 1 % of comparisons changed)
    #[arg(long)]
    pub check: bool,
}

/// The name the second copy of the kernel runs under.
const AGAIN_SUFFIX: &str = "-again";

impl CalibrateArgs {
    pub fn run(self, sh: &Shell) -> Result<ExitCode> {
        let matrix = inputs::load_matrix(&self.host.matrix)?;
        let boots = self.boots.unwrap_or(matrix.repetitions);
        if boots == 0 || self.comparisons == 0 {
            bail!("--boots and --comparisons must be at least 1");
        }
        let (_, candidate) = matrix_job::sides(&matrix)?;
        let name = self.variant.clone().unwrap_or(candidate);
        let aa = self_matrix(&matrix, &name, boots * self.comparisons, self.selection.checked_vcpus()?)?;
        let job = Job {
            scenarios: self.selection.scenarios.clone(),
            shard: None,
            resume: None,
            results: self.results.dir(),
            tag: Some("calibrate".to_string()),
        };
        eprintln!(
            "calibrate: {name} against itself, {} self-comparison(s) of {boots} boots per side",
            self.comparisons
        );
        let reporter = reporter::for_command(false, Detail::Cells);
        let run_dir = matrix_job::execute(sh, &self.host.options(), &aa, &job, reporter.as_ref())?;
        // The A/A run's own report: what this matrix would have said.
        run_report::report_run(&run_dir, false, reporter.as_ref())?;
        let (cells, _) = RunDir::open(&run_dir)?.read_cells()?;
        let again = format!("{name}{AGAIN_SUFFIX}");
        let calibration = calibration::analyse(&cells, &name, &again, boots, &aa.diff);
        write(&calibration, &run_dir)?;
        print!("{}", calibration.markdown());
        println!("  {}", run_dir.join("calibration.md").display());
        Ok(if self.check && !calibration.passes() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}

/// A matrix of `name` against a copy of itself, with the matrix's own
/// thresholds and gate (the calibration measures what that matrix would
/// say), and no claims or expected changes (they describe another
/// comparison).
fn self_matrix(matrix: &Matrix, name: &str, repetitions: u32, vcpus: &[u32]) -> Result<Matrix> {
    let variant = matrix.select(&[name.to_string()])?.remove(0).clone();
    let mut again = variant.clone();
    again.name = format!("{name}{AGAIN_SUFFIX}");
    let mut aa = matrix.clone();
    aa.variants = vec![variant, again.clone()];
    aa.baseline = Some(name.to_string());
    aa.candidate = Some(again.name);
    aa.repetitions = repetitions;
    aa.scenario_repetitions.iter_mut().for_each(|r| *r = None);
    if !vcpus.is_empty() {
        aa.vcpus = vcpus.to_vec();
    }
    aa.diff.claims.clear();
    aa.diff.expected.clear();
    Ok(aa)
}

fn write(calibration: &Calibration, dir: &std::path::Path) -> Result<()> {
    fsutil::write_atomic(&dir.join("calibration.md"), calibration.markdown().as_bytes())?;
    let json = serde_json::to_vec_pretty(calibration).context("serializing the calibration")?;
    fsutil::write_atomic(&dir.join("calibration.json"), &json)
}
