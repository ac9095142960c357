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
                inputs::load_matrix(file).map(|m| match m.variants.len() {
                    1 => "matrix, 1 variant".to_string(),
                    n => format!("matrix, {n} variants"),
                })
            } else {
                inputs::load_scenario(file, &known).map(|s| scenario_summary(&s))
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

/// What `validate` can say of a valid scenario. The kernel's own modules
/// exist only for a kernel built with them, so it says it cannot know.
fn scenario_summary(scenario: &scenario::Scenario) -> String {
    let mut summary = format!("scenario `{}`, {} steps", scenario.name, scenario.steps.len());
    if !scenario.kernel_modules.is_empty() {
        summary.push_str(&format!(
            "; the kernel's own modules {} cannot be checked without building: each run checks them against its \
             variants' kernels before the first boot (configs: [base, victims] builds null_blk, brd and loop)",
            scenario.kernel_modules.join(", ")
        ));
    }
    summary
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
