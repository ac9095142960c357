//! Bisect: a throwaway kernel git tree made from the default source (a
//! clone of the rig's cached tree of it) plus
//! the fixture series in `fixtures/bisect/` (harmless commits, one that
//! breaks the build and its revert, one that makes unload hang; and a
//! branch where the hang happens on about half of the runs). Real builds
//! (the first cold, the rest incremental), real guests under TCG.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{default_source_tree, project_root, scratch, xtask};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "modrig test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The fixture tree, made once per test process: `main` = the default
/// source + fixtures/bisect/hang, `flaky` = the source + fixtures/bisect/flaky.
fn tree() -> &'static Path {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        let tree = scratch("bisect-tree");
        // The cache's tree holds the source as one commit, tagged
        // modrig-pristine; its objects are shared, not copied.
        let source = default_source_tree();
        let status = Command::new("git")
            .args(["clone", "--quiet", "--shared", "--no-checkout"])
            .arg(&source)
            .arg(&tree)
            .status()
            .unwrap();
        assert!(status.success(), "cannot clone {}", source.display());
        git(&tree, &["checkout", "-q", "-b", "main", "modrig-pristine"]);
        git(&tree, &["tag", "base"]);
        let series = |name: &str| -> Vec<String> {
            let mut files: Vec<String> = fs::read_dir(project_root().join("fixtures/bisect").join(name))
                .unwrap()
                .map(|e| e.unwrap().path().display().to_string())
                .filter(|p| p.ends_with(".patch"))
                .collect();
            files.sort();
            files
        };
        let am = |files: Vec<String>| {
            let mut args = vec!["am", "-q"];
            args.extend(files.iter().map(String::as_str));
            git(&tree, &args);
        };
        git(&tree, &["checkout", "-q", "-b", "flaky", "base"]);
        am(series("flaky"));
        git(&tree, &["checkout", "-q", "main"]);
        am(series("hang"));
        tree
    })
}

/// The user's view of the tree: HEAD, branch, status, refs, worktrees.
fn user_state(tree: &Path) -> Vec<String> {
    vec![
        git(tree, &["rev-parse", "HEAD"]),
        git(tree, &["symbolic-ref", "HEAD"]),
        git(tree, &["status", "--porcelain"]),
        git(tree, &["for-each-ref"]),
        git(tree, &["worktree", "list", "--porcelain"]),
    ]
}

fn commit_of(tree: &Path, subject: &str, branch: &str) -> String {
    git(tree, &["log", "--format=%H", "--grep", subject, "--fixed-strings", branch]).lines().next().unwrap().to_string()
}

fn bisect(tree: &Path, results: &Path, extra: &[&str]) -> (i32, String, PathBuf) {
    let mut args = vec![
        "bisect",
        "--tree",
        tree.to_str().unwrap(),
        "--scenario",
        "load-unload",
        "--results",
        results.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = xtask(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("--- stdout ---\n{stdout}");
    let dirs: Vec<PathBuf> = fs::read_dir(results).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "one bisect directory: {dirs:?}");
    (out.status.code().unwrap(), stdout, dirs[0].clone())
}

fn steps(dir: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("steps.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn bisect_finds_the_hanging_commit_and_skips_the_broken_build() {
    let tree = tree();
    let before = user_state(tree);
    let hang = commit_of(tree, "module: let in-flight module_put() drain before exit", "main");
    let broken = commit_of(tree, "sys: use umask_bits() in umask()", "main");
    let results = scratch("bisect-hang");
    let (code, stdout, dir) = bisect(tree, &results, &["--good", "base", "--bad", "main"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!("first bad commit: {hang}")), "{stdout}");
    assert!(stdout.contains("author:  Dee Fixture <dee@example.org>"), "{stdout}");
    assert!(stdout.contains("HANG"), "{stdout}");
    // The evidence: the hung-task report of the hanging rmmod.
    assert!(stdout.contains("blocked for more than") || stdout.contains("delete_module"), "{stdout}");

    let steps = steps(&dir);
    assert_eq!(steps[0]["phase"], "check-good");
    assert_eq!(steps[0]["mark"], "good");
    assert_eq!(steps[1]["phase"], "check-bad");
    assert_eq!(steps[1]["mark"], "bad");
    let skipped: Vec<_> = steps.iter().filter(|s| s["mark"] == "skip").collect();
    assert_eq!(skipped.len(), 1, "{steps:#?}");
    assert_eq!(skipped[0]["commit"], broken.as_str());
    assert!(skipped[0]["reason"].as_str().unwrap().starts_with("build failed"), "{:#}", skipped[0]);
    // One cold build at most (the first commit this tree builds; none when
    // an earlier run cached it), then every step builds incrementally.
    let cold = steps.iter().filter(|s| s["build_s"].as_f64().unwrap() >= 150.0).count();
    assert!(cold <= 1, "more than one step built from scratch: {steps:#?}");
    let log = fs::read_to_string(dir.join("bisect.log")).unwrap();
    assert!(log.contains(&format!("git bisect skip {broken}")), "{log}");
    assert!(log.contains(&format!("# first bad commit: [{hang}]")), "{log}");
    assert_eq!(user_state(tree), before, "the user's tree changed");

    // --replay of the saved log ends at the same commit without testing.
    let replay_results = scratch("bisect-replay");
    let log_path = dir.join("bisect.log");
    let (code, stdout, _) = bisect(tree, &replay_results, &["--replay", log_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!("first bad commit: {hang}")), "{stdout}");
    assert_eq!(user_state(tree), before, "the user's tree changed");
}

#[test]
fn bisect_with_tries_finds_a_hang_that_happens_on_some_runs() {
    let tree = tree();
    let before = user_state(tree);
    let flaky = commit_of(tree, "module: sometimes let in-flight module_put() drain before exit", "flaky");
    let results = scratch("bisect-flaky");
    // Each run hangs with probability 1/2: 10 tries miss it with 1/1024.
    let (code, stdout, dir) = bisect(tree, &results, &["--good", "base", "--bad", "flaky", "--tries", "10"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!("first bad commit: {flaky}")), "{stdout}");
    let steps = steps(&dir);
    for s in steps.iter().filter(|s| s["mark"] == "good") {
        assert_eq!(s["tries"], 10, "a good step must have passed every try: {s:#}");
    }
    assert!(steps.iter().all(|s| s["mark"] != "skip"), "{steps:#?}");
    assert_eq!(user_state(tree), before, "the user's tree changed");
}

#[test]
fn bisect_step_mode_speaks_git_bisect_run() {
    // The tree's HEAD (main) hangs: exit 1 = bad for `git bisect run`.
    let tree = tree();
    let results = scratch("bisect-step");
    let out = xtask(&[
        "bisect",
        "--step",
        "--tree",
        tree.to_str().unwrap(),
        "--scenario",
        "load-unload",
        "--results",
        results.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}
