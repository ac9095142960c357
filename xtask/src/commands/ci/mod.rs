//! `cargo xtask ci`: everything CI runs, in order of cost.
//!
//! Fast checks first (format, lints, unit tests, the example CI files against
//! their schemas), then the host set-up, then the end-to-end tests, which
//! build real kernels. All end-to-end tests of one run share one cache
//! (`target/ci-cache` unless told otherwise), so each kernel is built once
//! per run however many tests use it.

pub mod examples;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use xshell::{cmd, Shell};

use crate::doctor;
use crate::project;

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Cache shared by the end-to-end tests (default: target/ci-cache)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Stop after the unit tests and the example CI files (no host set-up, no kernels)
    #[arg(long)]
    pub unit_only: bool,
    /// Only check the host; never install packages (also: MODRIG_NO_INSTALL=1)
    #[arg(long)]
    pub no_install: bool,
}

impl CiArgs {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let started = Instant::now();
        step("format", || Ok(cmd!(sh, "cargo fmt --all -- --check").run()?))?;
        step("lints", || Ok(cmd!(sh, "cargo clippy --workspace --all-targets --all-features -- -D warnings").run()?))?;
        step("unit tests", || Ok(cmd!(sh, "cargo test --workspace").run()?))?;
        step("example CI files", || examples::validate(sh))?;
        if self.unit_only {
            println!("ci: --unit-only: skipping host set-up and end-to-end tests");
        } else {
            step("host set-up", || doctor::ensure_host(sh, doctor::Needs::Everything, self.no_install))?;
            let cache = match &self.cache_dir {
                Some(dir) => project::absolute(dir)?,
                None => project::root().join("target/ci-cache"),
            };
            println!("ci: end-to-end cache: {}", cache.display());
            let _cache = sh.push_env(project::CACHE_DIR_ENV, &cache);
            // Kernel builds first, on their own: their test measures what a
            // cold cache costs and what a second variant shares, which only
            // holds if no other test has built the kernels before it. Then
            // one step per group, so that the log says where the time goes.
            for &(name, filters) in E2E_GROUPS {
                step(name, || {
                    cmd!(
                        sh,
                        "cargo test -p xtask --features e2e --test e2e -- --test-threads=1 --nocapture {filters...}"
                    )
                    .run()
                    .with_context(|| format!("{name} failed"))
                })?;
            }
        }
        println!("ci: all passed in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// The end-to-end test groups, in the order CI runs them, each with the
/// test-name filters (module paths in xtask/tests/e2e/) that select it.
const E2E_GROUPS: &[(&str, &[&str])] = &[
    ("end-to-end: kernel builds (6.12, sources, configs)", &["kernel_build::"]),
    ("end-to-end: guests on 6.12 (boot, verdicts, hangs, panics, your own module)", &["guest_runs::", "own_modules::"]),
    ("end-to-end: matrices on 6.12 (claim, regression, A/A, the fix)", &["matrix_runs::"]),
    ("end-to-end: bisect on 6.12", &["bisect_runs::"]),
    ("end-to-end: the debug-kernel pair on 6.12 (lockdep, KASAN, decoded traces)", &["debug_kernels::"]),
    ("end-to-end: 6.1 LTS and mainline 7.2 (builds, scenarios, claim)", &["other_kernels::"]),
];

fn step(name: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("ci: == {name}");
    let started = Instant::now();
    work().with_context(|| format!("ci step `{name}` failed"))?;
    println!("ci: == {name}: ok ({:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}
