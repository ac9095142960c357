//! `cargo xtask bench`: performance figures, printed, never asserted.
//!
//! `bench build` measures what a kernel developer waits for: the first
//! (cold) build, the no-op rebuild, a second variant of the same source, and
//! the rebuild after a one-line change to `kernel/module/main.c` that comes
//! in through a patch. It uses its own cache (default `target/bench-cache`)
//! and empties it first, so "cold" means cold (no ccache either).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use xshell::{cmd, Shell};

use crate::kernel::build::{self, BuildEnv, BuiltKernel};
use crate::kernel::events::{BuildEvent, Reporter, TerminalReporter};
use crate::matrix::Variant;
use crate::{doctor, matrix, project};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Cold build, warm no-op, second variant, and one-line patch rebuild times
    Build(BenchBuildArgs),
}

#[derive(Debug, Args)]
pub struct BenchBuildArgs {
    /// Cache for the benchmark (default: target/bench-cache); emptied first
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep the benchmark cache (the "cold" figure is then not cold)
    #[arg(long)]
    pub keep_cache: bool,
}

impl BenchCommand {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self {
            BenchCommand::Build(args) => bench_build(sh, &args),
        }
    }
}

/// Counts what the reporter saw, for the figures, and shows it as usual.
struct CountingReporter {
    inner: TerminalReporter,
    last: std::sync::Mutex<Option<BuildEvent>>,
}

impl Reporter for CountingReporter {
    fn report(&self, event: &BuildEvent) {
        self.inner.report(event);
        if matches!(event, BuildEvent::Built { .. } | BuildEvent::CacheHit { .. }) {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(event.clone());
        }
    }
}

struct Figure {
    what: String,
    seconds: f64,
    detail: String,
}

fn bench_build(sh: &Shell, args: &BenchBuildArgs) -> Result<()> {
    doctor::ensure_host(sh, doctor::Needs::KernelBuild { default_source: true }, false)?;
    let cache = match &args.cache_dir {
        Some(dir) => project::absolute(dir)?,
        None => project::root().join("target/bench-cache"),
    };
    if !args.keep_cache && cache.exists() {
        fs::remove_dir_all(&cache).with_context(|| format!("cannot empty {}", cache.display()))?;
    }
    let defaults = matrix::load(&project::default_matrix())?;
    let upstream = defaults.variant("upstream").context("the default matrix has no `upstream` variant")?.clone();
    let baseline =
        defaults.variant("stop-machine").context("the default matrix has no `stop-machine` variant")?.clone();

    let reporter = CountingReporter { inner: TerminalReporter::default(), last: Default::default() };
    let env = BuildEnv::new(sh, cache.clone(), &reporter)?;
    let mut figures = Vec::new();
    let measure = |figures: &mut Vec<Figure>, what: &str, variant: &Variant| -> Result<BuiltKernel> {
        let started = Instant::now();
        let built = build::build_variant(&env, variant)?;
        let seconds = started.elapsed().as_secs_f64();
        let detail = match reporter.last.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(BuildEvent::CacheHit { .. }) => "cache hit".to_string(),
            Some(BuildEvent::Built { objects_compiled, .. }) => format!("{objects_compiled} objects compiled"),
            _ => String::new(),
        };
        figures.push(Figure { what: what.to_string(), seconds, detail });
        Ok(built)
    };

    let cold_label = if args.keep_cache { "first build (cache kept: not cold)" } else { "cold build (empty cache)" };
    let first = measure(&mut figures, cold_label, &upstream)?;
    // The no-op as a user sees it: a whole `cargo xtask kernel build`
    // process (matrix parsing, host check, toolchain probe, cache lookup).
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    cmd!(sh, "{exe} kernel build --variant upstream --cache-dir {cache}").quiet().ignore_stderr().run()?;
    figures.push(Figure {
        what: "no-op `kernel build` (new process)".into(),
        seconds: started.elapsed().as_secs_f64(),
        detail: "cache hit".into(),
    });
    measure(&mut figures, "second variant, same source (stop-machine)", &baseline)?;

    // A one-line change to kernel/module/main.c, delivered as a patch: first
    // the patch appears, then its one line changes.
    let tree = cache.join("sources").join(tree_dir_of(&first, &cache)?).join("tree");
    let main_c = fs::read_to_string(tree.join("kernel/module/main.c"))?;
    let patch_dir = cache.join("bench");
    fs::create_dir_all(&patch_dir)?;
    for (round, what) in [(1, "one-line patch added to main.c"), (2, "that patch's line changed")] {
        let patch = patch_dir.join("one-line.patch");
        fs::write(&patch, one_line_patch("kernel/module/main.c", &main_c, round)?)?;
        let variant = Variant { name: "bench-one-line".into(), patches: vec![patch], ..upstream.clone() };
        measure(&mut figures, what, &variant)?;
    }

    println!("\nmodrig bench build ({} jobs, cache {})", env.jobs, cache.display());
    for f in &figures {
        println!("  {:<46} {:>7.1} s   {}", f.what, f.seconds, f.detail);
    }
    println!("targets: no-op <= 5 s, one-file patch change <= 60 s (2 cores)");
    Ok(())
}

/// Which `sources/<tree-key>` directory a built kernel came from.
fn tree_dir_of(built: &BuiltKernel, cache: &Path) -> Result<String> {
    let identity = &built.manifest.source_identity;
    let sha = identity.strip_prefix("tarball:sha256:").context("bench build expects the default tarball source")?;
    let key = format!("tarball-{}", &sha[..16]);
    if !cache.join("sources").join(&key).is_dir() {
        bail!("source tree {key} not found in {}", cache.display());
    }
    Ok(key)
}

/// A unified diff that adds one file-scope line after the last `#include`
/// of `original`; `round` makes the line's content differ between rounds.
pub fn one_line_patch(path: &str, original: &str, round: u32) -> Result<String> {
    let lines: Vec<&str> = original.lines().collect();
    let last_include = lines
        .iter()
        .rposition(|l| l.starts_with("#include"))
        .with_context(|| format!("{path} has no #include to anchor the benchmark's patch"))?;
    // Context: up to three lines before and after the insertion point.
    let before_start = last_include.saturating_sub(2);
    let after_end = (last_include + 4).min(lines.len());
    let old_count = after_end - before_start;
    let mut diff = format!(
        "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -{},{} +{},{} @@\n",
        before_start + 1,
        old_count,
        before_start + 1,
        old_count + 1
    );
    for line in &lines[before_start..=last_include] {
        diff.push_str(&format!(" {line}\n"));
    }
    diff.push_str(&format!("+static const char modrig_bench_marker[] __used = \"round {round}\";\n"));
    for line in &lines[last_include + 1..after_end] {
        diff.push_str(&format!(" {line}\n"));
    }
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_patch_inserts_after_the_last_include() {
        let original = "// x\n#include <a.h>\n#include <b.h>\n\nint a;\nint b;\nint c;\n";
        assert_eq!(
            one_line_patch("f.c", original, 2).unwrap(),
            "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,6 +1,7 @@\n // x\n #include <a.h>\n #include <b.h>\n\
             +static const char modrig_bench_marker[] __used = \"round 2\";\n \n int a;\n int b;\n"
        );
        assert!(one_line_patch("f.c", "int x;\n", 1).is_err());
    }
}
