//! Kernel variants and their cached builds: the source imported, patched,
//! configured from fragments, compiled, and its stress modules built against
//! it, and the user's module directories too. `cargo xtask kernel` (in
//! `commands`) is the way in for people.

pub mod build;
pub mod cache;
pub mod catalog;
pub mod debian;
pub mod decode;
pub mod elf;
pub mod extmod;
pub mod failure;
pub mod kconfig;
pub mod patches;
pub mod runlog;
pub mod source;
pub mod usermod;

use anyhow::Result;
use xshell::Shell;

use crate::progress::Reporter;
use crate::variant::Variant;
use crate::{doctor, matrix, project};
use build::{BuildEnv, BuiltKernel};

/// Builds the named variants of a matrix already in memory (a calibration
/// makes one up), sharing one cache.
pub fn build_matrix_variants(
    sh: &Shell,
    matrix: &matrix::Matrix,
    names: &[String],
    cache_dir: Option<&std::path::Path>,
    no_install: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<BuiltKernel>> {
    with_matrix(sh, matrix, names, cache_dir, no_install, reporter, |env, variants| {
        variants.iter().map(|variant| build::build_variant(env, variant)).collect()
    })
}

/// Checks the host for the selected variants of `matrix`, and hands them and
/// a build environment (cache, reporter, the matrix's module directories)
/// to `work`.
pub fn with_matrix<T>(
    sh: &Shell,
    matrix: &matrix::Matrix,
    names: &[String],
    cache_dir: Option<&std::path::Path>,
    no_install: bool,
    reporter: &dyn Reporter,
    work: impl FnOnce(&BuildEnv<'_>, &[&Variant]) -> Result<T>,
) -> Result<T> {
    let selected = matrix.select(names)?;
    let debian_sources = selected.iter().any(|v| matches!(v.source, crate::variant::Source::Debian { .. }));
    doctor::ensure_host(sh, doctor::Needs::KernelBuild { debian_sources }, no_install)?;
    let cache = project::cache_dir(cache_dir)?;
    let mut env = BuildEnv::new(sh, cache, reporter)?;
    env.user_module_dirs = matrix.module_dirs.clone();
    work(&env, &selected)
}
