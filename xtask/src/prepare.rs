//! Everything a guest needs before it boots: the kernel and its modules
//! built (or found in the cache), the agent and the initramfs, and the
//! accelerator decided (KVM probed by a real boot, TCG otherwise).

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::guest::accel::{self, AccelChoice, AccelDecision};
use crate::guest::qemu::Accel;
use crate::guest::runner::{self, BootSpec, Deadlines, RunSpec};
use crate::guest::{image, reaper};
use crate::kernel;
use crate::kernel::build::BuiltKernel;
use crate::progress::{Reporter, Silent};
use crate::{doctor, project};

/// The host side that every guest of a command shares.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub memory_mib: u32,
    pub accel: AccelChoice,
    /// The matrix file that declares the variants.
    pub matrix: PathBuf,
    /// `None`: `$MODRIG_CACHE_DIR`, else `~/.cache/modrig`.
    pub cache_dir: Option<PathBuf>,
    /// Only check the host; never install packages.
    pub no_install: bool,
    /// The user's module directories (`--modules`), besides the matrix
    /// file's `modules:`.
    pub module_dirs: Vec<PathBuf>,
}

impl HostOptions {
    /// The user's module directories of a run with `matrix`: its
    /// `modules:`, then `--modules`.
    pub fn module_dirs_with(&self, matrix: &crate::matrix::Matrix) -> Result<Vec<PathBuf>> {
        crate::inputs::module_dirs(&matrix.module_dirs, &self.module_dirs)
    }

    /// [`Self::module_dirs_with`] the matrix file these options name.
    pub fn module_dirs(&self) -> Result<Vec<PathBuf>> {
        self.module_dirs_with(&crate::inputs::load_matrix(&self.matrix)?)
    }
}

/// Which guest to boot: a variant of the matrix (its first by default),
/// with how many vCPUs (the scenario's by default).
#[derive(Debug, Clone)]
pub struct GuestChoice {
    pub variant: Option<String>,
    pub vcpus: Option<u32>,
    pub host: HostOptions,
}

/// A kernel with its guest image, ready to boot.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub kernel: BuiltKernel,
    pub initrd: PathBuf,
    pub accel: AccelDecision,
    pub vcpus: u32,
    pub memory_mib: u32,
}

/// Facts about the host a set of prepared guests runs on (for manifests).
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub host_kernel: String,
    pub qemu_version: String,
}

/// Builds (or finds) the kernel, its modules, the agent and the initramfs,
/// and decides the accelerator. `default_vcpus` applies without `--vcpus`.
pub fn prepare(sh: &Shell, args: &GuestChoice, default_vcpus: u32, reporter: &dyn Reporter) -> Result<Prepared> {
    let (mut all, _) = prepare_variants(sh, &args.host, &args.variant.iter().cloned().collect::<Vec<_>>(), reporter)?;
    let mut prepared = all.drain(..).next().context("the matrix has no variants")?;
    prepared.vcpus = args.vcpus.unwrap_or(default_vcpus);
    Ok(prepared)
}

/// [`prepare`] for several variants (all of the matrix's when `variants` is
/// empty), in the order given, deciding the accelerator once. Their `vcpus`
/// is 2 until the caller sets it.
pub fn prepare_variants(
    sh: &Shell,
    args: &HostOptions,
    variants: &[String],
    reporter: &dyn Reporter,
) -> Result<(Vec<Prepared>, HostFacts)> {
    let matrix = crate::inputs::load_matrix(&args.matrix)?;
    prepare_matrix_variants(sh, args, &matrix, variants, reporter)
}

/// [`prepare_variants`] for a matrix already in memory.
pub fn prepare_matrix_variants(
    sh: &Shell,
    args: &HostOptions,
    matrix: &crate::matrix::Matrix,
    variants: &[String],
    reporter: &dyn Reporter,
) -> Result<(Vec<Prepared>, HostFacts)> {
    reaper::install_signal_handler()?;
    doctor::ensure_host(sh, doctor::Needs::Everything, args.no_install)?;
    let mut matrix = matrix.clone();
    matrix.module_dirs = args.module_dirs_with(&matrix)?;
    let kernels =
        kernel::build_matrix_variants(sh, &matrix, variants, args.cache_dir.as_deref(), args.no_install, reporter)?;
    guests_for(sh, args, kernels)
}

/// The guest side of [`prepare_variants`] for kernels already built: the
/// agent, each kernel's initramfs, and the accelerator (probed once per
/// host and cached).
pub fn guests_for(sh: &Shell, args: &HostOptions, kernels: Vec<BuiltKernel>) -> Result<(Vec<Prepared>, HostFacts)> {
    let first = kernels.first().context("no kernel to boot")?;
    let agent = image::build_agent(sh)?;
    let cache = project::cache_dir(args.cache_dir.as_deref())?;
    let qemu_version = cmd!(sh, "qemu-system-x86_64 --version").quiet().read().unwrap_or_default();
    let qemu_version = qemu_version.lines().next().unwrap_or("").to_string();
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let host = format!("{host_kernel} | {qemu_version}");
    let first_initrd = image::initramfs_for(first, &agent)?;
    let accel = accel::resolve(args.accel, &cache, &host, || {
        let probe_dir = cache.join("accel-probe");
        let program = modrig_proto::Program { steps: vec![] };
        let outcome = runner::run(&RunSpec {
            boot: BootSpec {
                bzimage: &first.bzimage,
                initrd: &first_initrd,
                accel: Accel::Kvm,
                vcpus: 1,
                memory_mib: args.memory_mib,
                boot_deadline: accel::PROBE_DEADLINE,
                cmdline_extra: vec![],
                out_dir: &probe_dir,
                sysrq_on_hang: false,
                label: "kvm-probe".into(),
                reporter: &Silent,
            },
            program: &program,
            deadlines: Deadlines::for_accel(Accel::Kvm),
        })?;
        Ok(outcome.boot_to_ready.is_some())
    })?;
    let mut prepared = Vec::new();
    for kernel in kernels {
        let initrd = image::initramfs_for(&kernel, &agent)?;
        prepared.push(Prepared { kernel, initrd, accel: accel.clone(), vcpus: 2, memory_mib: args.memory_mib });
    }
    Ok((prepared, HostFacts { host_kernel, qemu_version }))
}
