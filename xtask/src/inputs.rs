//! Reading the user's input files: matrix files, scenario files, and the
//! Kbuild files of the stress modules and of the user's module directories
//! (which name the modules scenarios may use). The parsers themselves are
//! pure (`matrix::parse`, `scenario::parse`); this is the disk side.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::matrix::{self, Matrix};
use crate::project;
use crate::scenario::{self, Known, Scenario};

/// Reads and validates a matrix file. Relative paths in it are relative to
/// the file, `~/` is `$HOME`; bare fragment names are files of
/// `kernel-configs/`.
pub fn load_matrix(file: &Path) -> Result<Matrix> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read matrix file {}", file.display()))?;
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let configs_dir = project::kernel_configs_dir();
    let exists = |p: &Path| p.exists();
    let scenarios_dir = project::scenarios_dir();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let context = matrix::Context {
        base_dir,
        configs_dir: &configs_dir,
        scenarios_dir: &scenarios_dir,
        home: home.as_deref(),
        exists: &exists,
    };
    Ok(matrix::parse(file, &text, &context)?)
}

/// Whether `file` is a matrix rather than a scenario: it is named
/// `matrix.yaml`, or it has a top-level `variants:` key (a scenario has
/// none). An unreadable file is not a matrix (reading it as a scenario says
/// why it cannot be read).
pub fn is_matrix_file(file: &Path) -> bool {
    file.file_name().is_some_and(|n| n == "matrix.yaml")
        || std::fs::read_to_string(file).is_ok_and(|text| matrix::has_variants_key(&text))
}

/// Reads and validates a scenario file.
pub fn load_scenario(file: &Path, known: &Known<'_>) -> Result<Scenario> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(scenario::parse(file, &text, known)?)
}

/// The stress modules `guests/modules` builds (names without `.ko`): what
/// a scenario's `modules:` may name.
pub fn stress_modules() -> Result<Vec<String>> {
    let kbuild = project::guest_modules_dir().join("Kbuild");
    let text = std::fs::read_to_string(&kbuild).with_context(|| format!("cannot read {}", kbuild.display()))?;
    Ok(scenario::kbuild_modules(&text))
}

/// The modules a user's module directory builds: the `obj-m` of its
/// `Kbuild`, else of its `Makefile`.
pub fn user_modules(dir: &Path) -> Result<Vec<String>> {
    for file in ["Kbuild", "Makefile"] {
        let path = dir.join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let names = scenario::kbuild_modules(&text);
            if !names.is_empty() {
                return Ok(names);
            }
        }
    }
    bail!("module directory {} names no module (expected `obj-m += NAME.o` in its Kbuild or Makefile)", dir.display())
}

/// Every module a scenario may name: the stress modules, then those of the
/// user's module directories. A name that two of them build is an error,
/// since the guest has one `/modules/NAME.ko`.
pub fn known_modules(module_dirs: &[PathBuf]) -> Result<Vec<String>> {
    let mut known: Vec<(String, String)> =
        stress_modules()?.into_iter().map(|name| (name, "guests/modules".to_string())).collect();
    for dir in module_dirs {
        for name in user_modules(dir)? {
            if let Some((_, other)) = known.iter().find(|(known, _)| *known == name) {
                bail!("module `{name}` is built by both {other} and {}: rename one of them", dir.display());
            }
            known.push((name, dir.display().to_string()));
        }
    }
    Ok(known.into_iter().map(|(name, _)| name).collect())
}

/// The user's module directories for a run: a matrix file's `modules:`
/// and the `--modules` flags, absolute, without duplicates.
pub fn module_dirs(from_matrix: &[PathBuf], extra: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in from_matrix.iter().chain(extra) {
        let dir = project::absolute(dir)?;
        if !dir.is_dir() {
            bail!("module directory {} does not exist", dir.display());
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}
