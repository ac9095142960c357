//! End-to-end tests: real kernels built (and, as the rig grows, booted) by
//! the real `cargo xtask` binary. Run by `cargo xtask ci`, which installs
//! the host's tools first and points every test at one shared cache through
//! `MODRIG_CACHE_DIR`.

mod bisect_runs;
mod debug_kernels;
mod guest_runs;
mod kernel_build;
mod matrix_runs;
mod other_kernels;
mod own_modules;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cache shared by all end-to-end tests of this run.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("MODRIG_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => project_root().join("target/e2e-cache"),
    }
}

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `cargo xtask ARGS...` (the built binary) with the shared cache.
pub fn xtask(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("MODRIG_CACHE_DIR", cache_dir())
        .current_dir(project_root())
        .output()
        .expect("cannot run the xtask binary");
    eprintln!(
        "$ cargo xtask {} -> {}\n--- stderr ---\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The one run directory under a results directory.
pub fn only_dir(results: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(results).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// A JSON file of a run (summary.json, manifest.json, ...).
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The cached git work trees of every source the rig has prepared.
pub fn source_trees() -> Vec<PathBuf> {
    std::fs::read_dir(cache_dir().join("sources"))
        .map(|entries| entries.map(|e| e.unwrap().path().join("tree")).filter(|t| t.is_dir()).collect())
        .unwrap_or_default()
}

/// The cached work tree of the default source (Debian's linux-source-6.12,
/// imported from its tarball), preparing it if needed. It is told from the
/// other kernels' trees by its top Makefile.
pub fn default_source_tree() -> PathBuf {
    let is_6_12 = |tree: &Path| {
        let makefile = std::fs::read_to_string(tree.join("Makefile")).unwrap_or_default();
        makefile.lines().any(|l| l.replace(' ', "") == "VERSION=6")
            && makefile.lines().any(|l| l.replace(' ', "") == "PATCHLEVEL=12")
    };
    let find = || {
        source_trees()
            .into_iter()
            .find(|t| t.parent().unwrap().file_name().unwrap().to_string_lossy().starts_with("tarball-") && is_6_12(t))
    };
    if let Some(tree) = find() {
        return tree;
    }
    assert!(xtask(&["kernel", "config", "--variant", "upstream"]).status.success());
    find().expect("no 6.12 source tree after configuring upstream")
}

/// The JSON events of a `--json` run.
pub fn events(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON event: {line}: {e}")))
        .collect()
}

/// A scratch directory unique to this test process and `name`, under
/// `target/e2e-scratch/`. The first call of a test process empties that
/// directory: kernel trees made by earlier runs take gigabytes each, and
/// only the latest run's are worth keeping to look at.
pub fn scratch(name: &str) -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = project_root().join("target/e2e-scratch");
        let _ = std::fs::remove_dir_all(&root);
        root
    });
    let dir = root.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
