//! `cargo xtask validate [FILES]`: checks scenario files (and the matrix
//! file) without building or booting anything.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::{inputs, project, scenario};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check (default: every .yaml file under scenarios/)
    pub files: Vec<PathBuf>,
    /// Your out-of-tree module directory, whose modules scenarios may name
    /// besides the stress modules (repeatable)
    #[arg(long = "modules", value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
}

impl ValidateArgs {
    pub fn run(self) -> Result<()> {
        let files = if self.files.is_empty() { default_files()? } else { self.files };
        let modules = inputs::known_modules(&inputs::module_dirs(&[], &self.module_dirs)?)?;
        let known = scenario::Known { modules: &modules };
        let mut failed = 0;
        for file in &files {
            // Matrices live beside the scenarios but are their own language.
            let result = if inputs::is_matrix_file(file) {
                inputs::load_matrix(file).map(|m| format!("matrix, {} variants", m.variants.len()))
            } else {
                inputs::load_scenario(file, &known).map(|s| format!("scenario `{}`, {} steps", s.name, s.steps.len()))
            };
            match result {
                Ok(summary) => println!("ok    {} ({summary})", file.display()),
                Err(error) => {
                    failed += 1;
                    println!("FAIL  {}", file.display());
                    eprintln!("{error:#}");
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {} file(s) have errors", files.len());
        }
        Ok(())
    }
}

/// Every YAML file in scenarios/ and its subdirectories (e.g. bugs/).
fn default_files() -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![project::root().join("scenarios")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
