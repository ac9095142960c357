//! Where things live: the project checkout and the build cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The default kernel source, which `doctor` checks for (a variant's
/// default, so `variant` owns it).
pub use crate::variant::DEFAULT_PACKAGE;

/// Overrides the cache directory (same as `--cache-dir`).
pub const CACHE_DIR_ENV: &str = "MODRIG_CACHE_DIR";

/// The workspace root: the directory above `xtask/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

pub fn default_matrix() -> PathBuf {
    root().join("scenarios/matrix.yaml")
}

/// The shipped scenarios.
pub fn scenarios_dir() -> PathBuf {
    root().join("scenarios")
}

pub fn kernel_configs_dir() -> PathBuf {
    root().join("kernel-configs")
}

pub fn guest_modules_dir() -> PathBuf {
    root().join("guests/modules")
}

/// The cache root: `--cache-dir`, else `$MODRIG_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/modrig`, else `~/.cache/modrig`.
pub fn cache_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return absolute(dir);
    }
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        return absolute(Path::new(&dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("modrig"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set: pass --cache-dir")?;
    Ok(PathBuf::from(home).join(".cache/modrig"))
}

/// Makes `path` absolute against the current directory without touching the
/// file system (the cache directory may not exist yet).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}
