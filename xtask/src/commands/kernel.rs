//! `cargo xtask kernel ...`: build or configure kernel variants into the
//! cache.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use xshell::Shell;

use crate::kernel::build::{self, BuildEnv};
use crate::reporter::{self, Detail};
use crate::variant::Variant;
use crate::{inputs, kernel, project};

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
            KernelCommand::Build(args) => with_env(sh, &args, |env, variants| {
                for variant in variants {
                    build::build_variant(env, variant)?;
                }
                Ok(())
            }),
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

/// Loads the matrix, checks the host, and hands the selected variants and a
/// build environment (cache, reporter) to `work`.
fn with_env<T>(sh: &Shell, args: &BuildArgs, work: impl FnOnce(&BuildEnv<'_>, &[&Variant]) -> Result<T>) -> Result<T> {
    let matrix = inputs::load_matrix(&args.matrix)?;
    let reporter = reporter::for_command(args.json, Detail::Steps);
    kernel::with_matrix(
        sh,
        &matrix,
        &args.variants,
        args.cache_dir.as_deref(),
        args.no_install,
        reporter.as_ref(),
        work,
    )
}
