//! Reading the user's input files: matrix files, scenario files, and the
//! stress modules' Kbuild (which names the modules scenarios may use). The
//! parsers themselves are pure (`matrix::parse`, `scenario::parse`); this is
//! the disk side.

use std::path::Path;

use anyhow::{Context, Result};

use crate::matrix::{self, Matrix};
use crate::project;
use crate::scenario::{self, Known, Scenario};

/// Reads and validates a matrix file. Relative paths in it are relative to
/// the file; bare fragment names are files of `kernel-configs/`.
pub fn load_matrix(file: &Path) -> Result<Matrix> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read matrix file {}", file.display()))?;
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let configs_dir = project::kernel_configs_dir();
    let exists = |p: &Path| p.exists();
    let scenarios_dir = project::scenarios_dir();
    let context =
        matrix::Context { base_dir, configs_dir: &configs_dir, scenarios_dir: &scenarios_dir, exists: &exists };
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
