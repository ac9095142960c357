//! Patch series: `git format-patch`/b4 mbox files and quilt `series` files,
//! expanded into an ordered list of patches and applied with `git apply`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::diag::Located;

/// One patch, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The file it came from (an mbox may hold several patches).
    pub file: PathBuf,
    /// Its subject line, when it is a mail; used in messages.
    pub subject: Option<String>,
    /// The whole message or diff; `git apply` skips the mail headers.
    pub text: String,
    /// `-pN` for `git apply` (quilt series can set it per patch).
    pub strip: u32,
}

impl Patch {
    pub fn describe(&self) -> String {
        match &self.subject {
            Some(subject) => format!("{} (\"{subject}\")", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

/// An entry of a quilt `series` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    pub name: String,
    pub strip: u32,
}

/// Parses a quilt `series` file: one patch per line, optional `-pN`, `#`
/// comments. Options quilt knows but modrig cannot honour (`-R`) are errors.
pub fn parse_series(file: &Path, text: &str) -> Result<Vec<SeriesEntry>, Located> {
    let mut entries = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = match raw.find('#') {
            Some(cut) => &raw[..cut],
            None => raw,
        };
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let mut strip = 1;
        for option in words {
            let column = raw.find(option).unwrap_or(0) + 1;
            match option.strip_prefix("-p").and_then(|n| n.parse::<u32>().ok()) {
                Some(level) => strip = level,
                None => {
                    return Err(Located::new(
                        file,
                        (n + 1, column),
                        format!("unsupported option `{option}` for patch `{name}`: expected only `-pN` (e.g. -p1)"),
                    ))
                }
            }
        }
        entries.push(SeriesEntry { name: name.to_string(), strip });
    }
    Ok(entries)
}

/// A message of an mbox (or the whole text, when it is a bare diff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: Option<String>,
    pub text: String,
    /// False for cover letters and other mails without a diff.
    pub has_diff: bool,
}

/// Splits mbox text at its `From ` separator lines. `git format-patch`
/// writes `From <40 hex> Mon Sep 17 00:00:00 2001`; b4 and mail clients write
/// `From <address> <date>`. A file without separators is one message.
pub fn split_mbox(text: &str) -> Vec<Message> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") && (offset == 0 || text[..offset].ends_with('\n')) && looks_like_separator(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            let body = &text[start..end];
            Message { subject: subject(body), text: body.to_string(), has_diff: has_diff(body) }
        })
        .filter(|m| !m.text.trim().is_empty())
        .collect()
}

fn looks_like_separator(line: &str) -> bool {
    // "From " followed by at least a sender/hash and a date-ish rest; a body
    // line "From someone" in a commit message is escaped as ">From" by mbox
    // writers, but be conservative anyway: require at least three words.
    line.split_whitespace().count() >= 3
}

fn subject(message: &str) -> Option<String> {
    let mut lines = message.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None; // end of headers
        }
        if let Some(rest) = line.strip_prefix("Subject:") {
            let mut subject = rest.trim().to_string();
            // Folded header continuation lines start with whitespace.
            for next in lines.by_ref() {
                if next.starts_with([' ', '\t']) {
                    subject.push(' ');
                    subject.push_str(next.trim());
                } else {
                    break;
                }
            }
            return Some(subject);
        }
    }
    None
}

fn has_diff(message: &str) -> bool {
    message.lines().any(|l| l.starts_with("diff --git ") || l.starts_with("+++ "))
}

/// The hunk of `patch` that `git apply` said failed: `file` and the old-side
/// start `line` come from "error: patch failed: FILE:LINE".
pub fn failing_hunk(patch: &str, file: &str, line: u32) -> Option<String> {
    let mut in_file = false;
    let mut hunk: Option<Vec<&str>> = None;
    for l in patch.lines() {
        if let Some(rest) = l.strip_prefix("+++ ") {
            if hunk.is_some() {
                break;
            }
            let path = rest.split('\t').next().unwrap_or(rest);
            in_file = path == file || path.split_once('/').map(|(_, p)| p) == Some(file);
            continue;
        }
        if l.starts_with("diff --git ") || l.starts_with("-- ") && hunk.is_some() {
            if hunk.is_some() {
                break;
            }
            in_file = false;
            continue;
        }
        if let Some(lines) = hunk.as_mut() {
            if l.starts_with("@@") {
                break;
            }
            lines.push(l);
        } else if in_file && l.starts_with("@@ -") && hunk_old_start(l) == Some(line) {
            hunk = Some(vec![l]);
        }
    }
    hunk.map(|lines| lines.join("\n"))
}

fn hunk_old_start(header: &str) -> Option<u32> {
    let old = header.strip_prefix("@@ -")?.split([',', ' ']).next()?;
    old.parse().ok()
}

/// Finds "error: patch failed: FILE:LINE" in `git apply` output.
pub fn parse_apply_failure(output: &str) -> Option<(String, u32)> {
    output.lines().find_map(|l| {
        let rest = l.strip_prefix("error: patch failed: ")?;
        let (file, line) = rest.rsplit_once(':')?;
        Some((file.to_string(), line.trim().parse().ok()?))
    })
}

/// Expands patch inputs (files, mboxes, `series` files, directories) into the
/// ordered list of patches. A directory with a `series` file is a quilt
/// series; otherwise its `*.patch`, `*.diff`, `*.mbx`, `*.mbox` files are
/// taken in name order. Cover letters (mails without a diff) are skipped.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<Patch>> {
    let mut patches = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let series = input.join("series");
            if series.is_file() {
                expand_series(&series, &mut patches)?;
            } else {
                let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                    .with_context(|| format!("cannot list patch directory {}", input.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file()
                            && matches!(p.extension().and_then(|e| e.to_str()), Some("patch" | "diff" | "mbx" | "mbox"))
                    })
                    .collect();
                files.sort();
                if files.is_empty() {
                    bail!("patch directory {} has no `series` file and no *.patch/*.diff/*.mbx files", input.display());
                }
                for file in files {
                    expand_file(&file, 1, &mut patches)?;
                }
            }
        } else if input.file_name().is_some_and(|n| n == "series") {
            expand_series(input, &mut patches)?;
        } else {
            expand_file(input, 1, &mut patches)?;
        }
    }
    Ok(patches)
}

fn expand_series(series: &Path, out: &mut Vec<Patch>) -> Result<()> {
    let text = std::fs::read_to_string(series).with_context(|| format!("cannot read {}", series.display()))?;
    let dir = series.parent().unwrap_or(Path::new("."));
    for entry in parse_series(series, &text)? {
        let file = dir.join(&entry.name);
        if !file.is_file() {
            bail!("{}: lists `{}`, but {} does not exist", series.display(), entry.name, file.display());
        }
        expand_file(&file, entry.strip, out)?;
    }
    Ok(())
}

fn expand_file(file: &Path, strip: u32, out: &mut Vec<Patch>) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read patch {}", file.display()))?;
    let mut found = false;
    for message in split_mbox(&text).into_iter().filter(|m| m.has_diff) {
        found = true;
        out.push(Patch { file: file.to_path_buf(), subject: message.subject, text: message.text, strip });
    }
    if !found && !is_cover_letter(file) {
        bail!("{} holds no diff (expected a git format-patch file, an mbox, or a unified diff)", file.display());
    }
    Ok(())
}

fn is_cover_letter(file: &Path) -> bool {
    file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("0000-"))
}

/// Applies `patches` in order to the git work tree `tree`. On failure the
/// error names the patch and its failing hunk; the caller resets the tree.
pub fn apply(sh: &Shell, tree: &Path, patches: &[Patch]) -> Result<()> {
    for patch in patches {
        let strip = format!("-p{}", patch.strip);
        let output = cmd!(sh, "git -C {tree} apply {strip} --verbose --whitespace=nowarn -")
            .stdin(patch.text.as_bytes())
            .ignore_status()
            .quiet()
            .output()?;
        if output.status.success() {
            continue;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut message = format!("patch {} does not apply", patch.describe());
        if let Some((file, line)) = parse_apply_failure(&stderr) {
            message.push_str(&format!(": hunk at {file}:{line} fails"));
            if let Some(hunk) = failing_hunk(&patch.text, &file, line) {
                message.push_str(&format!("\n{hunk}"));
            }
        }
        let tail: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("error:") && !l.contains("while searching for")).collect();
        bail!("{message}\ngit apply said:\n{}", tail.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT_PATCH: &str = "\
From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: A <a@b>
Subject: [PATCH 0/2] cover
 letter folded

Cover text.
From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: A <a@b>
Subject: [PATCH 1/2] module: first

Body mentions From nothing.
---
diff --git a/kernel/module/main.c b/kernel/module/main.c
--- a/kernel/module/main.c
+++ b/kernel/module/main.c
@@ -10,3 +10,4 @@ static int x;
 a
+b
 c
@@ -40,2 +41,3 @@ static int y;
 d
+e
-- 
2.39.5

From 3333333333333333333333333333333333333333 Mon Sep 17 00:00:00 2001
Subject: [PATCH 2/2] module: second

diff --git a/init/main.c b/init/main.c
--- a/init/main.c
+++ b/init/main.c
@@ -1 +1 @@
-x
+y
";

    #[test]
    fn splits_mbox_and_marks_cover_letters() {
        let messages = split_mbox(FORMAT_PATCH);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].subject.as_deref(), Some("[PATCH 0/2] cover letter folded"));
        assert!(!messages[0].has_diff);
        assert_eq!(messages[1].subject.as_deref(), Some("[PATCH 1/2] module: first"));
        assert!(messages[1].has_diff);
        assert!(messages[2].text.starts_with("From 3333"));
    }

    #[test]
    fn bare_diff_is_one_message() {
        let messages = split_mbox("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].subject, None);
        assert!(messages[0].has_diff);
    }

    #[test]
    fn quilt_series_with_comments_and_strip_levels() {
        let text = "# leading comment\nfirst.patch\n\nsecond.patch -p0 # trailing\n  third.diff   -p2\n";
        let entries = parse_series(Path::new("p/series"), text).unwrap();
        assert_eq!(
            entries,
            vec![
                SeriesEntry { name: "first.patch".into(), strip: 1 },
                SeriesEntry { name: "second.patch".into(), strip: 0 },
                SeriesEntry { name: "third.diff".into(), strip: 2 },
            ]
        );
        let err = parse_series(Path::new("p/series"), "a.patch\nb.patch -R\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "p/series:2:9: unsupported option `-R` for patch `b.patch`: expected only `-pN` (e.g. -p1)"
        );
    }

    #[test]
    fn finds_the_failing_hunk() {
        let first = &split_mbox(FORMAT_PATCH)[1].text;
        assert_eq!(failing_hunk(first, "kernel/module/main.c", 40).unwrap(), "@@ -40,2 +41,3 @@ static int y;\n d\n+e");
        assert_eq!(
            failing_hunk(first, "kernel/module/main.c", 10).unwrap(),
            "@@ -10,3 +10,4 @@ static int x;\n a\n+b\n c"
        );
        assert_eq!(failing_hunk(first, "init/main.c", 10), None);
    }

    #[test]
    fn parses_git_apply_errors() {
        let out = "Checking patch kernel/module/main.c...\nerror: while searching for:\nfoo\n\nerror: patch failed: kernel/module/main.c:776\nerror: kernel/module/main.c: patch does not apply\n";
        assert_eq!(parse_apply_failure(out), Some(("kernel/module/main.c".to_string(), 776)));
        assert_eq!(parse_apply_failure("error: something else"), None);
    }
}
