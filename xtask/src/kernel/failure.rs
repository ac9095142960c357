//! A build that failed, as a type: which part of what a guest boots could
//! not be built, with the log of the failed command and that log's last
//! lines. It travels inside `anyhow::Error` as context (so the message keeps
//! its whole chain: what failed, then why) and is recovered with
//! `error.downcast_ref::<BuildFailure>()`, however many contexts were added
//! on the way up. An error without one is the rig's or the host's (I/O in
//! the cache, a git command on the cache's tree, a missing tool).

use std::fmt;
use std::path::{Path, PathBuf};

use super::runlog::FAILURE_TAIL_LINES;
use crate::fsutil::tail_lines;

pub use crate::progress::BuildPart;

/// A failed build of one [`BuildPart`].
#[derive(Debug)]
pub struct BuildFailure {
    pub part: BuildPart,
    /// The build log of the failed part, when it has one (the initramfs is
    /// written in process and has none).
    pub log: Option<PathBuf>,
    /// The log's last lines ([`FAILURE_TAIL_LINES`]), empty without a log.
    pub tail: String,
}

impl BuildFailure {
    /// A failure of `part`, with the last lines of `log` as they are now.
    pub fn new(part: BuildPart, log: Option<&Path>) -> BuildFailure {
        let tail = log.map(|log| tail_lines(log, FAILURE_TAIL_LINES).join("\n")).unwrap_or_default();
        BuildFailure { part, log: log.map(Path::to_path_buf), tail }
    }

    /// The compiler's first `error:` line in the log's tail: for a developer,
    /// the one line that says why.
    pub fn first_error_line(&self) -> Option<&str> {
        self.tail.lines().map(str::trim).find(|line| line.contains("error:"))
    }
}

/// Only what failed: the log's path and tail are in the message of the
/// error this failure is the context of (see `runlog::run_logged`).
impl fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.part.fmt(f)
    }
}

/// Marks the error of a build step as a failure of a [`BuildPart`].
pub trait FailedIn<T> {
    /// `log` is the part's build log, if it has one.
    fn failed_in(self, part: BuildPart, log: Option<&Path>) -> anyhow::Result<T>;
}

impl<T> FailedIn<T> for anyhow::Result<T> {
    fn failed_in(self, part: BuildPart, log: Option<&Path>) -> anyhow::Result<T> {
        self.map_err(|error| error.context(BuildFailure::new(part, log)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_travels_through_anyhow_with_its_log_tail_and_keeps_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("v.log");
        let lines: Vec<String> = (1..=40).map(|i| format!("line {i}")).collect();
        std::fs::write(&log, format!("{}\nsys.c:1929:43: error: implicit declaration\n", lines.join("\n"))).unwrap();
        let result: anyhow::Result<()> = Err(anyhow::anyhow!("make bzImage modules failed (exit status: 2)"));
        let error = result
            .failed_in(BuildPart::Kernel, Some(&log))
            .map_err(|e| e.context("failed to build variant v"))
            .unwrap_err();

        let failure = error.downcast_ref::<BuildFailure>().expect("the failure survives an outer context");
        assert_eq!(failure.part, BuildPart::Kernel);
        assert_eq!(failure.log.as_deref(), Some(log.as_path()));
        assert_eq!(failure.tail.lines().count(), FAILURE_TAIL_LINES);
        assert_eq!(failure.first_error_line(), Some("sys.c:1929:43: error: implicit declaration"));
        assert_eq!(
            format!("{error:#}"),
            "failed to build variant v: the kernel tree did not configure or build: make bzImage modules failed (exit status: 2)"
        );
    }

    #[test]
    fn a_failure_without_a_log_has_no_tail() {
        let failure = BuildFailure::new(BuildPart::Initramfs, None);
        assert_eq!((failure.log, failure.tail.as_str()), (None, ""));
        assert!(anyhow::anyhow!("cannot read /bin/busybox").downcast_ref::<BuildFailure>().is_none());
    }
}
