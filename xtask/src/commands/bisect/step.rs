//! One bisect step: build a commit (incrementally, through the kernel
//! cache), boot it, run the scenario up to `tries` times, and turn the
//! verdicts into good, bad or skip.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use xshell::Shell;

use super::ABORT_EXIT;
use crate::commands::flags::HostArgs;
use crate::executor::{self, Plan};
use crate::kernel::build::{self, BuildEnv};
use crate::kernel::failure::{BuildFailure, BuildPart};
use crate::outcome::Verdict;
use crate::prepare;
use crate::variant::{Source, Variant};

/// What a step tells `git bisect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Good,
    Bad,
    Skip,
    /// The rig itself could not test the commit (it could not build its
    /// agent or image): no mark for git; the bisect stops, to be resumed
    /// once the rig is fixed.
    Abort,
}

impl Mark {
    /// The mark as `steps.jsonl` and the step lines spell it; for good, bad
    /// and skip also the `git bisect` subcommand.
    pub fn word(self) -> &'static str {
        match self {
            Mark::Good => "good",
            Mark::Bad => "bad",
            Mark::Skip => "skip",
            Mark::Abort => "abort",
        }
    }

    /// The exit code `git bisect run` expects from its command.
    pub fn run_exit_code(self) -> u8 {
        match self {
            Mark::Good => 0,
            Mark::Bad => 1,
            Mark::Skip => 125,
            Mark::Abort => ABORT_EXIT,
        }
    }
}

/// After a try's verdict: the mark, or `None` to try again. A PASS is
/// only good once every try passed; a verdict counted as bad convicts at
/// once; INFRA (the rig's failure) and verdicts not counted as bad skip
/// the commit, since they say nothing about the hunted failure. Never
/// [`Mark::Abort`]: that is for a rig that cannot build (see
/// [`mark_for_build_error`]).
pub fn decide(verdict: Verdict, try_no: u32, tries: u32, bad_on: &[Verdict]) -> Option<Mark> {
    match verdict {
        Verdict::Pass if try_no < tries => None,
        Verdict::Pass => Some(Mark::Good),
        v if bad_on.contains(&v) => Some(Mark::Bad),
        _ => Some(Mark::Skip),
    }
}

/// What a commit's failure to become a bootable guest means for the bisect.
///
/// A kernel developer bisecting expects `git bisect skip` for a commit whose
/// tree does not build or configure: it cannot be tested, and the commits
/// around it still can. The stress modules are the rig's code, but they
/// compile against the commit's headers with the compiler that has just
/// built its kernel, so when the kernel built and they did not, the commit
/// changed an interface they use: that commit is as untestable as one that
/// does not compile, and is skipped too. (Were the modules broken on their
/// own, they would fail at every commit, and the endpoint checks stop the
/// bisect before it starts.) The rig's own pieces, the agent and the
/// initramfs, do not depend on the commit: when they cannot be built, every
/// commit would be skipped and the bisect would end with a meaningless
/// "only skipped commits", so it stops instead (INFRA). So does any failure
/// without a [`BuildFailure`]: the cache's disk, git on the cache's tree,
/// copying `guests/modules`, a missing host tool.
pub fn mark_for_build_error(error: &anyhow::Error) -> Mark {
    match error.downcast_ref::<BuildFailure>().map(|failure| failure.part) {
        Some(BuildPart::Kernel | BuildPart::StressModules | BuildPart::UserModules) => Mark::Skip,
        Some(BuildPart::Agent | BuildPart::Initramfs) | None => Mark::Abort,
    }
}

/// The record of one tested commit (a line of `steps.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub n: usize,
    /// `check-good`, `check-bad`, `bisect` or `step` (under `git bisect run`).
    pub phase: String,
    pub commit: String,
    pub subject: String,
    pub mark: Mark,
    /// The verdict of the last try: none when the commit did not build,
    /// INFRA when the rig could not prepare a guest.
    pub verdict: Option<Verdict>,
    pub tries: u32,
    pub reason: String,
    pub build_s: f64,
    pub boot_s: f64,
    pub scenario_s: f64,
    /// This step's directory: one `try-N/` run directory per try.
    pub dir: PathBuf,
    /// The kernel report (or the verdict's reasons) of a bad try, or the
    /// error of a failed build (with the end of its log).
    pub excerpt: Option<String>,
    pub console_log: Option<PathBuf>,
}

pub struct StepContext<'a> {
    pub sh: &'a Shell,
    pub env: &'a BuildEnv<'a>,
    pub host: &'a HostArgs,
    pub tree: &'a Path,
    pub configs: &'a [PathBuf],
    pub plan: &'a Plan,
    pub vcpus: u32,
    pub tries: u32,
    pub bad_on: &'a [Verdict],
}

/// Tests `commit`. A commit that does not build is a skip (one unbuildable
/// commit must not end a bisect); a rig that cannot build its own pieces is
/// an abort (see [`mark_for_build_error`]); a failed run is a skip.
pub fn test_commit(cx: &StepContext<'_>, n: usize, phase: &str, commit: &str, subject: &str, dir: &Path) -> StepRecord {
    let mut record = StepRecord {
        n,
        phase: phase.to_string(),
        commit: commit.to_string(),
        subject: subject.to_string(),
        mark: Mark::Skip,
        verdict: None,
        tries: 0,
        reason: String::new(),
        build_s: 0.0,
        boot_s: 0.0,
        scenario_s: 0.0,
        dir: dir.to_path_buf(),
        excerpt: None,
        console_log: None,
    };
    let started = Instant::now();
    let short = &commit[..commit.len().min(12)];
    let variant = Variant {
        name: format!("bisect-{short}"),
        description: format!("{} at {short}", cx.tree.display()),
        source: Source::Git { repo: cx.tree.to_path_buf(), rev: commit.to_string() },
        patches: vec![],
        configs: cx.configs.to_vec(),
    };
    let guest = build::build_variant(cx.env, &variant)
        .and_then(|kernel| prepare::guests_for(cx.sh, &cx.host.options(), vec![kernel]))
        .and_then(|(mut guests, _)| guests.pop().ok_or_else(|| anyhow::anyhow!("no guest prepared")));
    record.build_s = started.elapsed().as_secs_f64();
    let mut guest = match guest {
        Ok(guest) => guest,
        Err(error) => {
            record.mark = mark_for_build_error(&error);
            record.reason = match record.mark {
                Mark::Abort => {
                    record.verdict = Some(Verdict::Infra);
                    format!("the rig could not prepare a guest: {}", build_failure(&error))
                }
                _ => format!("build failed: {}", build_failure(&error)),
            };
            // The whole chain: what failed, the failed command, the log's
            // path and its last lines.
            record.excerpt = Some(format!("{error:#}"));
            return record;
        }
    };
    guest.vcpus = cx.vcpus;
    // A commit whose kernel lacks a module the scenario loads (a driver not
    // there yet) cannot be judged: like a broken build, it is skipped.
    if let Err(error) = cx.plan.check_kernel_modules(&guest.kernel) {
        record.mark = Mark::Skip;
        record.reason = format!("{error:#}");
        return record;
    }
    for try_no in 1..=cx.tries.max(1) {
        record.tries = try_no;
        let run_dir = dir.join(format!("try-{try_no}"));
        let outcome = std::fs::create_dir_all(&run_dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| executor::run_plan(&guest, cx.plan, &run_dir, cx.env.reporter));
        let (run, _) = match outcome {
            Ok(done) => done,
            Err(error) => {
                record.verdict = Some(Verdict::Infra);
                record.reason = format!("the rig failed on try {try_no}: {}", first_lines(&format!("{error:#}"), 3));
                return record;
            }
        };
        let boot = run.boot_to_ready_ms.unwrap_or(0.0) / 1e3;
        record.boot_s += boot;
        record.scenario_s += (run.wall_ms / 1e3 - boot).max(0.0);
        record.verdict = Some(run.verdict);
        record.console_log = Some(run.console_log.clone());
        if let Some(mark) = decide(run.verdict, try_no, cx.tries.max(1), cx.bad_on) {
            record.mark = mark;
            record.reason = match mark {
                Mark::Good => format!("PASS on all {try_no} tries"),
                Mark::Bad => format!("{} on try {try_no}: {}", run.verdict, run.reasons.join("; ")),
                // decide() skips or convicts; it never aborts.
                Mark::Skip | Mark::Abort => format!(
                    "{} on try {try_no}, which is not a bad verdict here (--bad-on): {}",
                    run.verdict,
                    run.reasons.join("; ")
                ),
            };
            if mark != Mark::Good {
                let event = run
                    .kernel_events
                    .iter()
                    .find(|e| {
                        use crate::kernel_event::EventClass::*;
                        matches!(e.class, Panic | Oops | Bug | HungTask | SoftLockup | HardLockup | RcuStall)
                    })
                    .or_else(|| run.kernel_events.first());
                record.excerpt = event.map(|e| e.excerpt.clone()).or_else(|| Some(run.reasons.join("\n")));
            }
            break;
        }
    }
    record
}

/// A build error in one line: the compiler's first `error:` line (which
/// says why) when the log has one, else the error's first line; then the
/// build log, when there is one.
fn build_failure(error: &anyhow::Error) -> String {
    let failure = error.downcast_ref::<BuildFailure>();
    let text = format!("{error:#}");
    let why = failure.and_then(BuildFailure::first_error_line).unwrap_or_else(|| text.lines().next().unwrap_or(""));
    match failure.and_then(|f| f.log.as_ref()) {
        Some(log) => format!("{why} (build log: {})", log.display()),
        None => why.to_string(),
    }
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;
    use crate::kernel::failure::FailedIn;

    #[test]
    fn passes_retry_until_the_last_try_and_bad_verdicts_convict_at_once() {
        let bad_on = [Verdict::Hang, Verdict::Panic, Verdict::Fail];
        assert_eq!(decide(Verdict::Pass, 1, 3, &bad_on), None);
        assert_eq!(decide(Verdict::Pass, 3, 3, &bad_on), Some(Mark::Good));
        assert_eq!(decide(Verdict::Hang, 2, 3, &bad_on), Some(Mark::Bad));
        assert_eq!(decide(Verdict::Infra, 1, 3, &bad_on), Some(Mark::Skip));
        // Hunting hangs only: a PANIC says nothing about the hang.
        assert_eq!(decide(Verdict::Panic, 1, 1, &[Verdict::Hang]), Some(Mark::Skip));
        assert_eq!(Mark::Skip.run_exit_code(), 125);
    }

    /// An error as `build_variant` or `guests_for` returns it: `part`'s
    /// failure (with a log holding `log_text`) under an outer context.
    fn failed(part: BuildPart, log_text: Option<&str>, dir: &Path) -> anyhow::Error {
        let log = log_text.map(|text| {
            let log = dir.join("v.log");
            std::fs::write(&log, text).unwrap();
            log
        });
        let result: anyhow::Result<()> = Err(anyhow::anyhow!("make failed (exit status: 2)\nmore"));
        result.failed_in(part, log.as_deref()).context("failed to build variant v").unwrap_err()
    }

    #[test]
    fn a_commit_that_does_not_build_is_skipped_and_a_rig_that_cannot_build_stops_the_bisect() {
        let dir = tempfile::tempdir().unwrap();
        let mark = |part| mark_for_build_error(&failed(part, Some("log"), dir.path()));
        assert_eq!(mark(BuildPart::Kernel), Mark::Skip);
        assert_eq!(mark(BuildPart::StressModules), Mark::Skip);
        assert_eq!(mark(BuildPart::UserModules), Mark::Skip);
        assert_eq!(mark(BuildPart::Agent), Mark::Abort);
        assert_eq!(mark(BuildPart::Initramfs), Mark::Abort);
        // Not typed: the cache's disk, a git command on the cache, a tool.
        assert_eq!(mark_for_build_error(&anyhow::anyhow!("No space left on device")), Mark::Abort);
        assert_eq!(Mark::Abort.run_exit_code(), ABORT_EXIT);
    }

    #[test]
    fn a_build_failure_names_the_compiler_error_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log_text = "In file included from x.h:1,\n\
                        /t/kernel/sys.c:1929:43: error: implicit declaration of function 'umask_bits'\n\
                        make: *** Error 2\n";
        let log = dir.path().join("v.log");
        assert_eq!(
            build_failure(&failed(BuildPart::Kernel, Some(log_text), dir.path())),
            format!(
                "/t/kernel/sys.c:1929:43: error: implicit declaration of function 'umask_bits' (build log: {})",
                log.display()
            )
        );
        // No compiler error in the log: the error's first line.
        assert_eq!(
            build_failure(&failed(BuildPart::Kernel, Some("Kconfig output\n"), dir.path())),
            format!("failed to build variant v: the kernel tree did not configure or build: make failed (exit status: 2) (build log: {})", log.display())
        );
        assert_eq!(build_failure(&anyhow::anyhow!("cannot apply patch\nmore")), "cannot apply patch");
    }
}
