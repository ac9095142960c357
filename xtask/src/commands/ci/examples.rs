//! CI's check of the example CI files (the GitHub workflow and the GitLab
//! pipeline that shard `cargo xtask matrix`): each is validated against its
//! vendor's schema by `check-jsonschema`, whose schemas are built in, so
//! nothing but the first install needs the network (PyPI).
//!
//! The tool lives in a venv, `target/ci-venv`. Where `python3 -m venv` does
//! not work (Debian/Ubuntu without `python3-venv`), pip installs it into
//! `target/ci-pydeps` instead, used through `PYTHONPATH`. Either is reused
//! as long as it holds the pinned version.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd, Shell};

use crate::project;

/// The pinned `check-jsonschema` (PyPI); its version fixes the schemas.
pub const CHECK_JSONSCHEMA_VERSION: &str = "0.39.0";

/// The example CI files (relative to the workspace root) and the built-in
/// schema each must satisfy.
pub const EXAMPLES: [(&str, &str); 2] = [
    (".github/workflows/modrig-matrix.yml", "vendor.github-workflows"),
    (".gitlab/modrig-matrix.gitlab-ci.yml", "vendor.gitlab-ci"),
];

/// Validates every example, one line each; fails if any is invalid.
pub fn validate(sh: &Shell) -> Result<()> {
    let checker = Checker::ensure(sh)?;
    let root = project::root();
    let mut invalid = Vec::new();
    for (file, schema) in EXAMPLES {
        let path = root.join(file);
        let output = checker
            .cmd(sh, &["-m", "check_jsonschema", "--builtin-schema", schema])
            .arg(&path)
            .ignore_status()
            .output()
            .context("cannot run check-jsonschema")?;
        if output.status.success() {
            println!("ci: valid: {file} ({schema})");
        } else {
            println!("ci: INVALID: {file} ({schema}):");
            print_indented(&output);
            invalid.push(file);
        }
    }
    if !invalid.is_empty() {
        bail!("example CI files fail their schemas: {}", invalid.join(", "));
    }
    Ok(())
}

/// A Python that can import the pinned `check-jsonschema`.
struct Checker {
    python: PathBuf,
    /// Set for the pip `--target` fallback.
    pythonpath: Option<PathBuf>,
}

impl Checker {
    /// Reuses a venv or pip target with the pinned version, else installs it
    /// (into a fresh venv if `python3 -m venv` works, else with `--target`).
    fn ensure(sh: &Shell) -> Result<Checker> {
        let venv_dir = project::root().join("target/ci-venv");
        let target_dir = project::root().join("target/ci-pydeps");
        let venv = Checker { python: venv_dir.join("bin/python3"), pythonpath: None };
        let fallback = Checker { python: PathBuf::from("python3"), pythonpath: Some(target_dir.clone()) };
        if venv.has_pinned_version(sh) {
            return Ok(venv);
        }
        if fallback.has_pinned_version(sh) {
            return Ok(fallback);
        }
        let requirement = format!("check-jsonschema=={CHECK_JSONSCHEMA_VERSION}");
        if venv.ensure_venv(sh, &venv_dir)? {
            let pip = venv.cmd(sh, &["-m", "pip", "install", "-q", "--disable-pip-version-check", &requirement]);
            check(pip, "pip install into target/ci-venv")?;
            return venv.verified(sh);
        }
        println!(
            "ci: python3 -m venv does not work here (on Debian/Ubuntu: apt-get install python3-venv); \
             installing {requirement} with pip --target target/ci-pydeps"
        );
        remove(&target_dir)?;
        let pip = cmd!(sh, "python3 -m pip install -q --disable-pip-version-check --target {target_dir} {requirement}");
        check(pip, "python3 -m pip install --target target/ci-pydeps (needs python3-pip on Debian/Ubuntu)")?;
        fallback.verified(sh)
    }

    /// Makes `dir` a venv with pip, replacing whatever was there; false if
    /// this Python cannot make one.
    fn ensure_venv(&self, sh: &Shell, dir: &Path) -> Result<bool> {
        if self.cmd(sh, &["-m", "pip", "--version"]).ignore_stdout().ignore_stderr().run().is_ok() {
            return Ok(true);
        }
        // A failed `python3 -m venv` (no ensurepip) leaves a venv without
        // pip behind: start from nothing, and clean up after a failure.
        remove(dir)?;
        let made = cmd!(sh, "python3 -m venv {dir}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
            && self.cmd(sh, &["-m", "pip", "--version"]).ignore_stdout().ignore_stderr().run().is_ok();
        if !made {
            remove(dir)?;
        }
        Ok(made)
    }

    fn verified(self, sh: &Shell) -> Result<Checker> {
        if !self.has_pinned_version(sh) {
            bail!(
                "check-jsonschema {CHECK_JSONSCHEMA_VERSION} was installed but {} cannot import it",
                self.python.display()
            );
        }
        Ok(self)
    }

    /// Whether the tool runs here (which imports all its dependencies,
    /// compiled ones included) and is the pinned version.
    fn has_pinned_version(&self, sh: &Shell) -> bool {
        // Prints `python -m check_jsonschema, version X.Y.Z`.
        match self.cmd(sh, &["-m", "check_jsonschema", "--version"]).ignore_stderr().read() {
            Ok(version) => version.trim().rsplit(' ').next() == Some(CHECK_JSONSCHEMA_VERSION),
            Err(_) => false,
        }
    }

    /// `python args...`, quiet, with `PYTHONPATH` for the fallback.
    fn cmd<'a>(&self, sh: &'a Shell, args: &[&str]) -> Cmd<'a> {
        let python = &self.python;
        let cmd = cmd!(sh, "{python} {args...}").quiet();
        match &self.pythonpath {
            Some(dir) => cmd.env("PYTHONPATH", dir),
            None => cmd,
        }
    }
}

/// Runs `cmd` with its output captured, shown only if it fails.
fn check(cmd: Cmd<'_>, what: &str) -> Result<()> {
    let output = cmd.ignore_status().output().with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        print_indented(&output);
        bail!("{what} failed ({})", output.status);
    }
    Ok(())
}

fn print_indented(output: &Output) {
    for text in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(text).lines().filter(|l| !l.trim().is_empty()) {
            println!("    {line}");
        }
    }
}

fn remove(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}
