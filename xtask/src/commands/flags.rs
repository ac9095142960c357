//! Flags that several commands share, defined once: which guest to boot,
//! and the host settings every guest of a command shares. Commands turn them
//! into the plain options the I/O shells take ([`crate::prepare`]).

use std::path::PathBuf;

use clap::Args;

use crate::guest::accel::AccelChoice;
use crate::prepare::{GuestChoice, HostOptions};
use crate::project;

/// What every guest-booting command needs: which kernel, how many vCPUs,
/// and the host settings.
#[derive(Debug, Clone, Args)]
pub struct GuestArgs {
    /// Variant to boot (default: the matrix's first variant)
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Number of vCPUs (default: the scenario's, else 2)
    #[arg(long)]
    pub vcpus: Option<u32>,
    #[command(flatten)]
    pub host: HostArgs,
}

impl GuestArgs {
    pub fn choice(&self) -> GuestChoice {
        GuestChoice { variant: self.variant.clone(), vcpus: self.vcpus, host: self.host.options() }
    }
}

/// Settings of the host side that every guest of a command shares.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// Guest memory in MiB
    #[arg(long, default_value_t = 256)]
    pub memory: u32,
    /// kvm, tcg, or auto (probe KVM by booting; fall back to TCG)
    #[arg(long, default_value = "auto", value_name = "auto|kvm|tcg")]
    pub accel: AccelChoice,
    /// Matrix file that declares the variants
    #[arg(long, value_name = "FILE", default_value_os_t = project::default_matrix())]
    pub matrix: PathBuf,
    /// Cache directory (default: $MODRIG_CACHE_DIR, else ~/.cache/modrig)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Only check the host; never install packages (also: MODRIG_NO_INSTALL=1)
    #[arg(long)]
    pub no_install: bool,
    /// Your out-of-tree module directory, built with `make M=` against each
    /// variant; scenarios may name its modules (repeatable; adds to the
    /// matrix file's `modules:`)
    #[arg(long = "modules", value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
}

impl HostArgs {
    pub fn options(&self) -> HostOptions {
        HostOptions {
            memory_mib: self.memory,
            accel: self.accel,
            matrix: self.matrix.clone(),
            cache_dir: self.cache_dir.clone(),
            no_install: self.no_install,
            module_dirs: self.module_dirs.clone(),
        }
    }
}

/// Where a command's run directories go.
#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    /// Where run directories go (default: results/)
    #[arg(long = "results", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ResultsArgs {
    pub fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| project::root().join("results"))
    }
}

/// Which part of a matrix file a command runs.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// Only these scenarios of the matrix file (repeatable)
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// vCPU counts instead of the matrix file's (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub vcpus: Vec<u32>,
}

impl SelectionArgs {
    /// The vCPU counts, checked: each between 1 and 64.
    pub fn checked_vcpus(&self) -> anyhow::Result<&[u32]> {
        if let Some(bad) = self.vcpus.iter().find(|&&n| n == 0 || n > 64) {
            anyhow::bail!("--vcpus {bad}: expected 1 to 64");
        }
        Ok(&self.vcpus)
    }
}

/// How a long command shows its progress.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Progress as JSON lines on stdout, one event per line (`event` names
    /// it), instead of lines for people on stderr
    #[arg(long)]
    pub json: bool,
}
