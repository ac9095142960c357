//! One bisect step: build a commit (incrementally, through the kernel
//! cache), boot it, run the scenario up to `tries` times, and turn the
//! verdicts into good, bad or skip.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::commands::flags::HostArgs;
use crate::executor::{self, Plan};
use crate::kernel::build::{self, BuildEnv};
use crate::prepare;
use crate::variant::{Source, Variant};
use crate::verdict::Verdict;

/// What a step tells `git bisect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Good,
    Bad,
    Skip,
}

impl Mark {
    pub fn git_word(self) -> &'static str {
        match self {
            Mark::Good => "good",
            Mark::Bad => "bad",
            Mark::Skip => "skip",
        }
    }

    /// The exit code `git bisect run` expects from its command.
    pub fn run_exit_code(self) -> u8 {
        match self {
            Mark::Good => 0,
            Mark::Bad => 1,
            Mark::Skip => 125,
        }
    }
}

/// After a try's verdict: the mark, or `None` to try again. A PASS is
/// only good once every try passed; a verdict counted as bad convicts at
/// once; INFRA (the rig's failure) and verdicts not counted as bad skip
/// the commit, since they say nothing about the hunted failure.
pub fn decide(verdict: Verdict, try_no: u32, tries: u32, bad_on: &[Verdict]) -> Option<Mark> {
    match verdict {
        Verdict::Pass if try_no < tries => None,
        Verdict::Pass => Some(Mark::Good),
        v if bad_on.contains(&v) => Some(Mark::Bad),
        _ => Some(Mark::Skip),
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
    /// The verdict of the last try (none when the build failed).
    pub verdict: Option<Verdict>,
    pub tries: u32,
    pub reason: String,
    pub build_s: f64,
    pub boot_s: f64,
    pub scenario_s: f64,
    /// This step's directory: one `try-N/` run directory per try.
    pub dir: PathBuf,
    /// The kernel report (or the verdict's reasons) of a bad try.
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

/// Tests `commit`; every failure of the rig on the way is a skip with its
/// reason, never an abort: one unbuildable commit must not end a bisect.
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
            record.reason = format!("build failed: {}", build_failure(&format!("{error:#}")));
            return record;
        }
    };
    guest.vcpus = cx.vcpus;
    for try_no in 1..=cx.tries.max(1) {
        record.tries = try_no;
        let run_dir = dir.join(format!("try-{try_no}"));
        let outcome = std::fs::create_dir_all(&run_dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| executor::run_plan(&guest, cx.plan, &run_dir, &crate::progress::Silent));
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
                Mark::Skip => format!(
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
                        use crate::classify::EventClass::*;
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

/// A build error in one line: the compiler's first `error:` line, which
/// says why, and the build log; else the error's first line.
fn build_failure(text: &str) -> String {
    let head = text.lines().next().unwrap_or_default();
    let log = head.rsplit_once(" lines of ").map(|(_, log)| log.trim_end_matches(':'));
    match (text.lines().map(str::trim).find(|l| l.contains("error:")), log) {
        (Some(error), Some(log)) => format!("{error} (build log: {log})"),
        _ => head.to_string(),
    }
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_build_failure_names_the_log_and_the_compiler_error() {
        let text = "failed to build variant v: make failed (exit status: 2); last 30 lines of /c/logs/v.log:\n\
                    In file included from x.h:1,\n\
                    /t/kernel/sys.c:1929:43: error: implicit declaration of function 'umask_bits'\n\
                    make: *** Error 2";
        assert_eq!(
            build_failure(text),
            "/t/kernel/sys.c:1929:43: error: implicit declaration of function 'umask_bits' (build log: /c/logs/v.log)"
        );
        assert_eq!(build_failure("cannot apply patch\nmore"), "cannot apply patch");
    }
}
