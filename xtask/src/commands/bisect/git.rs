//! `git bisect` driven in a clone of the user's tree: thin wrappers, and a
//! pure reading of what git says after each mark.
//!
//! The clone is `--shared --no-checkout` and bisect runs `--no-checkout`:
//! git only moves `BISECT_HEAD`, nothing is checked out, and the user's
//! repository is only read (through git's alternates).

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// Where a bisection stands after git processed a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Test this commit next; git's estimate of the steps left.
    Next { commit: String, steps_left: Option<u32> },
    /// Done: the first bad commit.
    FirstBad(String),
    /// Only skipped commits are left: the first bad one is among these.
    OnlySkipped(Vec<String>),
}

/// Reads git's answer to `bisect start/good/bad/skip` (its stdout); the
/// next commit comes from `BISECT_HEAD`, which the caller passes in.
pub fn parse_state(output: &str, bisect_head: Option<&str>) -> Option<State> {
    for line in output.lines() {
        if let Some(commit) = line.strip_suffix(" is the first bad commit") {
            return Some(State::FirstBad(commit.trim().to_string()));
        }
    }
    if output.contains("There are only 'skip'ped commits left to test.") {
        let commits = output
            .lines()
            .skip_while(|l| !l.starts_with("The first bad commit could be any of:"))
            .skip(1)
            .map(str::trim)
            .filter(|l| l.len() >= 7 && l.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_string)
            .collect();
        return Some(State::OnlySkipped(commits));
    }
    // "Bisecting: 3 revisions left to test after this (roughly 2 steps)"
    let steps_left = output.lines().find_map(|l| {
        let rest = l.split("(roughly ").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    });
    bisect_head.map(|commit| State::Next { commit: commit.to_string(), steps_left })
}

/// A clone of `tree` to bisect in, at `dir`.
pub fn clone(sh: &Shell, tree: &Path, dir: &Path) -> Result<()> {
    cmd!(sh, "git clone --quiet --shared --no-checkout {tree} {dir}")
        .quiet()
        .run()
        .with_context(|| format!("cannot clone {} for bisecting", tree.display()))?;
    // A gc in the background would repack the user's objects into ours.
    cmd!(sh, "git -C {dir} config gc.auto 0").quiet().run()?;
    Ok(())
}

/// The full hash of `rev` in `repo`, or a clear error.
pub fn resolve(sh: &Shell, repo: &Path, rev: &str) -> Result<String> {
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git -C {repo} rev-parse --verify --quiet {spec}")
        .quiet()
        .read()
        .with_context(|| format!("`{rev}` is not a commit in {}", repo.display()))
}

/// One line for humans: subject, and author with address.
pub fn describe(sh: &Shell, repo: &Path, commit: &str) -> (String, String) {
    let format = "--format=%s%n%an <%ae>";
    let text = cmd!(sh, "git -C {repo} log -1 {format} {commit}").quiet().read().unwrap_or_default();
    let mut lines = text.lines();
    (lines.next().unwrap_or("").to_string(), lines.next().unwrap_or("").to_string())
}

/// Runs `git bisect ARGS` in `repo` and reads the state it leaves.
pub fn bisect(sh: &Shell, repo: &Path, args: &[&str]) -> Result<State> {
    let output = cmd!(sh, "git -C {repo} bisect {args...}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run git bisect {}", args.join(" ")))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let head = cmd!(sh, "git -C {repo} rev-parse --verify --quiet BISECT_HEAD").quiet().read().ok();
    match parse_state(&text, head.as_deref()) {
        Some(state) if output.status.success() || !matches!(state, State::Next { .. }) => Ok(state),
        _ => bail!("git bisect {} failed: {}", args.join(" "), text.trim()),
    }
}

/// `git bisect log` of the clone.
pub fn log(sh: &Shell, repo: &Path) -> Result<String> {
    Ok(cmd!(sh, "git -C {repo} bisect log").quiet().read()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_next_first_bad_and_only_skipped() {
        let next =
            "Bisecting: 3 revisions left to test after this (roughly 2 steps)\n[45f2c6f] sys: use umask_bits()\n";
        assert_eq!(
            parse_state(next, Some("45f2c6f628c7")),
            Some(State::Next { commit: "45f2c6f628c7".into(), steps_left: Some(2) })
        );
        let done =
            "e3d02890ffb3c395036c0ef74a554e4246505442 is the first bad commit\ncommit e3d0...\nAuthor: A <a@x>\n";
        assert_eq!(
            parse_state(done, Some("whatever")),
            Some(State::FirstBad("e3d02890ffb3c395036c0ef74a554e4246505442".into()))
        );
        let skipped = "There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n\
                       45f2c6f628c77e8a56ca4ce9a3f569be0e354c56\n90441714f8b5fc6162a715ac8305d1b08a5d8655\nWe cannot bisect more!\n";
        assert_eq!(
            parse_state(skipped, None),
            Some(State::OnlySkipped(vec![
                "45f2c6f628c77e8a56ca4ce9a3f569be0e354c56".into(),
                "90441714f8b5fc6162a715ac8305d1b08a5d8655".into()
            ]))
        );
        assert_eq!(parse_state("fatal: something", None), None);
    }
}
