//! `cargo xtask kernel ...`: kernel variants and their cached builds.

pub mod build;
pub mod cache;
pub mod events;
pub mod failure;
pub mod kconfig;
pub mod patches;
pub mod runlog;
pub mod source;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use xshell::Shell;

use crate::variant::Variant;
use crate::{doctor, matrix, project};
use build::{BuildEnv, BuiltKernel};
use events::{JsonReporter, Reporter, TerminalReporter};

#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Build (or find in the cache) the bzImage and stress modules of variants
    Build(BuildArgs),
    /// Configure variants (patches + fragments, verified) without compiling; print each .config path
    Config(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Variant to build (repeatable); default: every variant of the matrix
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// Matrix file that declares the variants
    #[arg(long, value_name = "FILE", default_value_os_t = project::default_matrix())]
    pub matrix: PathBuf,
    /// Cache directory (default: $MODRIG_CACHE_DIR, else ~/.cache/modrig)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print build events as JSON lines instead of progress bars
    #[arg(long)]
    pub json: bool,
    /// Only check the host; never install packages (also: MODRIG_NO_INSTALL=1)
    #[arg(long)]
    pub no_install: bool,
}

impl KernelCommand {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self {
            KernelCommand::Build(args) => {
                build_all(sh, &args)?;
                Ok(())
            }
            KernelCommand::Config(args) => with_env(sh, &args, |env, variants| {
                for variant in variants {
                    let config = build::configure_variant(env, variant)?;
                    println!("{}: {}", variant.name, config.display());
                }
                Ok(())
            }),
        }
    }
}

/// Builds the selected variants in matrix order, sharing one cache.
pub fn build_all(sh: &Shell, args: &BuildArgs) -> Result<Vec<BuiltKernel>> {
    with_env(sh, args, |env, variants| variants.iter().map(|variant| build::build_variant(env, variant)).collect())
}

/// Loads the matrix, checks the host, and hands the selected variants and a
/// build environment (cache, reporter) to `work`.
fn with_env<T>(sh: &Shell, args: &BuildArgs, work: impl FnOnce(&BuildEnv<'_>, &[&Variant]) -> Result<T>) -> Result<T> {
    let matrix = matrix::load(&args.matrix)?;
    with_matrix(sh, &matrix, &args.variants, args.cache_dir.as_deref(), args.json, args.no_install, work)
}

/// Builds the named variants of a matrix already in memory (a calibration
/// makes one up), sharing one cache.
pub fn build_matrix_variants(
    sh: &Shell,
    matrix: &matrix::Matrix,
    names: &[String],
    cache_dir: Option<&std::path::Path>,
    no_install: bool,
) -> Result<Vec<BuiltKernel>> {
    with_matrix(sh, matrix, names, cache_dir, false, no_install, |env, variants| {
        variants.iter().map(|variant| build::build_variant(env, variant)).collect()
    })
}

fn with_matrix<T>(
    sh: &Shell,
    matrix: &matrix::Matrix,
    names: &[String],
    cache_dir: Option<&std::path::Path>,
    json: bool,
    no_install: bool,
    work: impl FnOnce(&BuildEnv<'_>, &[&Variant]) -> Result<T>,
) -> Result<T> {
    let selected = matrix.select(names)?;
    let default_source = selected.iter().any(|v| v.source == crate::variant::Source::default_tarball());
    doctor::ensure_host(sh, doctor::Needs::KernelBuild { default_source }, no_install)?;
    let cache = project::cache_dir(cache_dir)?;
    let terminal;
    let reporter: &dyn Reporter = if json {
        &JsonReporter
    } else {
        terminal = TerminalReporter::default();
        &terminal
    };
    let env = BuildEnv::new(sh, cache, reporter)?;
    work(&env, &selected)
}
