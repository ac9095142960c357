//! The user's own out-of-tree module directories (`modules:` in a matrix
//! file, `--modules DIR` on the command line), built with `make M=` against
//! each variant's exported build tree, as `guests/modules` is, but without
//! W=1: their warnings are their author's business.
//!
//! The directory is copied first (sources only, none of a previous build's
//! output), so the user's directory is never written to, and the copy's
//! content is the cache key: `kernels/<key>/user-modules/<dir name>-<hash>/`
//! holds the built `.ko` files, and an unchanged directory is not rebuilt.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::build::{BuildEnv, BuiltKernel};
use super::failure::{BuildPart, FailedIn};
use super::{extmod, runlog};
use crate::hashing::hex;
use crate::progress::BuildEvent;

/// Builds every directory in `dirs` against `kernel`; returns the
/// directories that hold their `.ko` files, in the same order.
pub fn build_all(env: &BuildEnv<'_>, kernel: &BuiltKernel, dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    dirs.iter().map(|dir| build_one(env, kernel, dir)).collect()
}

fn build_one(env: &BuildEnv<'_>, kernel: &BuiltKernel, dir: &Path) -> Result<PathBuf> {
    let files = source_files(dir)?;
    let key = content_key(dir, &files)?;
    let name = dir.file_name().map_or_else(|| "modules".to_string(), |n| n.to_string_lossy().into_owned());
    let target = kernel.dir.join("user-modules").join(format!("{name}-{}", &key[..16]));
    if target.is_dir() {
        return Ok(target);
    }
    env.emit(BuildEvent::Stage { variant: kernel.variant.clone(), stage: format!("building {}", dir.display()) });
    let staging = kernel.dir.join("user-modules").join(format!(".{name}.tmp-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    for rel in &files {
        let to = staging.join(rel);
        fs::create_dir_all(to.parent().unwrap_or(&staging))?;
        fs::copy(dir.join(rel), &to).with_context(|| format!("cannot copy {}", dir.join(rel).display()))?;
    }
    let log = env.cache.join("logs").join(format!("{}-{name}-{}.log", kernel.variant, &key[..12]));
    fs::create_dir_all(env.cache.join("logs"))?;
    fs::write(&log, format!("modrig build of {} against variant {}\n", dir.display(), kernel.variant))?;
    let args = [format!("M={}", staging.display()), format!("-j{}", env.jobs), "modules".to_string()];
    let make = env.make_command(&kernel.dir.join("build"), &args);
    let release = &kernel.manifest.kernel_release;
    let built = runlog::run_logged(make, &format!("make M={}", dir.display()), &log, |_, _| {})
        .and_then(|_| {
            if ko_files(&staging)?.is_empty() {
                bail!("`make M=` produced no .ko file (see {})", log.display());
            }
            Ok(())
        })
        .failed_in(BuildPart::UserModules, Some(&log))
        .with_context(|| {
            format!(
                "module directory {} does not compile against Linux {release} (variant {}): the compiler's error \
                 and the log follow",
                dir.display(),
                kernel.variant
            )
        });
    if let Err(error) = built {
        fs::remove_dir_all(&staging).ok();
        return Err(error);
    }
    fs::rename(&staging, &target).or_else(|e| if target.is_dir() { fs::remove_dir_all(&staging) } else { Err(e) })?;
    Ok(target)
}

/// The `.ko` files directly in `dir` (where `make M=` puts them for a flat
/// Kbuild), and in its subdirectories.
pub fn ko_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for rel in walk(dir)? {
        if rel.extension().is_some_and(|e| e == "ko") {
            found.push(dir.join(rel));
        }
    }
    found.sort();
    Ok(found)
}

/// The files of a module directory that a build reads: everything but
/// hidden files and what a previous `make M=` left there.
fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = walk(dir)?.into_iter().filter(|rel| is_source(rel)).collect();
    files.sort();
    if files.is_empty() {
        bail!("module directory {} is empty", dir.display());
    }
    Ok(files)
}

/// Whether a file (path relative to the module directory) is a source, not
/// build output or a hidden file (`.git`, `.foo.o.cmd`).
pub fn is_source(rel: &Path) -> bool {
    let hidden = rel.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let output = ["Module.symvers", "modules.order"].contains(&name.as_str())
        || [".o", ".ko", ".mod", ".mod.c", ".mod.o", ".a"].iter().any(|suffix| name.ends_with(suffix));
    !hidden && !output
}

/// sha256 over the files' relative paths and contents.
fn content_key(dir: &Path, files: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    for rel in files {
        let bytes = fs::read(dir.join(rel)).with_context(|| format!("cannot read {}", dir.join(rel).display()))?;
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex(&hasher.finalize()))
}

/// Every file under `dir`, relative to it (the walk the module build tree
/// export uses: `.git` and build directories left out).
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    extmod::list_files(dir, dir, &mut found)?;
    Ok(found.into_iter().map(PathBuf::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_and_build_output_and_hidden_files_left_out() {
        for source in ["Makefile", "Kbuild", "mydrv.c", "include/mydrv.h", "sub/Kbuild"] {
            assert!(is_source(Path::new(source)), "{source}");
        }
        for output in
            ["mydrv.o", "mydrv.ko", "mydrv.mod", "mydrv.mod.c", "Module.symvers", "modules.order", ".mydrv.o.cmd"]
        {
            assert!(!is_source(Path::new(output)), "{output}");
        }
        assert!(!is_source(Path::new(".git/config")));
    }
}
