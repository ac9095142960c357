//! `cargo xtask validate [FILES]`: checks scenario files (and the matrix
//! file) without building or booting anything. With `--matrix`, the
//! kernel's own modules the scenarios load are checked against the
//! variants' kernels that are already built.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use xshell::Shell;

use crate::kernel;
use crate::kernel::build::{self, BuildEnv};
use crate::reporter::{self, Detail};
use crate::variant::Variant;
use crate::{inputs, project, scenario};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check (default: every .yaml file under scenarios/)
    pub files: Vec<PathBuf>,
    /// Your out-of-tree module directory, whose modules scenarios may name
    /// besides the stress modules (repeatable)
    #[arg(long = "modules", value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
    /// Also check the kernel's own modules the scenarios load
    /// (`kernel_modules:`) against this matrix's variants, for each variant
    /// whose kernel is in the cache (nothing is built)
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
    /// Cache directory (default: $MODRIG_CACHE_DIR, else ~/.cache/modrig)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl ValidateArgs {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let files = if self.files.is_empty() { default_files()? } else { self.files.clone() };
        let modules = inputs::known_modules(&inputs::module_dirs(&[], &self.module_dirs)?)?;
        let known = scenario::Known { modules: &modules };
        let mut failed = 0;
        // Scenario -> the kernel's own modules it loads.
        let mut kernel_modules: Vec<(String, Vec<String>)> = Vec::new();
        for file in &files {
            // Matrices live beside the scenarios but are their own language.
            let result = if inputs::is_matrix_file(file) {
                inputs::load_matrix(file).map(|m| match m.variants.len() {
                    1 => "matrix, 1 variant".to_string(),
                    n => format!("matrix, {n} variants"),
                })
            } else {
                inputs::load_scenario(file, &known).map(|s| {
                    if !s.kernel_modules.is_empty() {
                        kernel_modules.push((s.name.clone(), s.kernel_modules.clone()));
                    }
                    scenario_summary(&s, self.matrix.is_some())
                })
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
        if let (Some(matrix), false) = (&self.matrix, kernel_modules.is_empty()) {
            self.check_kernel_modules(sh, matrix, &kernel_modules)?;
        }
        Ok(())
    }

    /// For each variant of `matrix` whose kernel is cached: whether it has
    /// the kernel's own modules each scenario loads. A variant not built
    /// yet is named as one `validate` cannot know about.
    fn check_kernel_modules(&self, sh: &Shell, matrix: &Path, wanted: &[(String, Vec<String>)]) -> Result<()> {
        let loaded = inputs::load_matrix(matrix)?;
        let reporter = reporter::for_command(false, Detail::Steps);
        let cache_dir = self.cache_dir.as_deref();
        let missing = kernel::with_matrix(sh, &loaded, &[], cache_dir, true, reporter.as_ref(), |env, variants| {
            variants.iter().map(|variant| check_variant(env, variant, matrix, wanted)).sum::<Result<usize>>()
        })?;
        if missing > 0 {
            bail!("{missing} scenario(s) load modules a variant's kernel does not have");
        }
        Ok(())
    }
}

/// Prints what one variant's cached kernel says of `wanted`; returns how
/// many scenarios load a module it does not have.
fn check_variant(
    env: &BuildEnv<'_>,
    variant: &Variant,
    matrix: &Path,
    wanted: &[(String, Vec<String>)],
) -> Result<usize> {
    let name = &variant.name;
    let Some((release, catalog)) = build::cached_catalog(env, variant)? else {
        println!(
            "?     variant {name}: not built yet, so validate cannot know which of the kernel's own modules it has \
             without building it (`cargo xtask kernel build --matrix {}`); every run checks before its first boot",
            matrix.display()
        );
        return Ok(0);
    };
    let mut missing = 0;
    for (scenario, modules) in wanted {
        let absent = catalog.missing(modules);
        if absent.is_empty() {
            println!("ok    variant {name} (Linux {release}) has {} for `{scenario}`", modules.join(", "));
        } else {
            missing += 1;
            println!(
                "FAIL  variant {name} (Linux {release}) has no {} for `{scenario}`: looked in {}, which has {}",
                absent.join(", "),
                catalog.modules_dep().display(),
                catalog.contents()
            );
        }
    }
    Ok(missing)
}

/// What `validate` can say of a valid scenario. The kernel's own modules
/// exist only for a kernel built with them, so it says it cannot know.
fn scenario_summary(scenario: &scenario::Scenario, checked_below: bool) -> String {
    let mut summary = format!("scenario `{}`, {} steps", scenario.name, scenario.steps.len());
    if !scenario.kernel_modules.is_empty() && !checked_below {
        summary.push_str(&format!(
            "; the kernel's own modules {} cannot be checked without a built kernel: `--matrix FILE` checks them \
             against its variants' cached kernels, and each run checks before its first boot",
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
