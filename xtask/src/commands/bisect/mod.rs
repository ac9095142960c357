//! `cargo xtask bisect`: find the commit that broke module unload.
//!
//! It bisects in a `--shared --no-checkout` clone of the user's tree under
//! `results/<time>-bisect/repo` (the user's checkout, index and branches are
//! never touched; `git -C .../repo bisect log` inspects the state after),
//! checks both endpoints first, builds each step through the kernel cache
//! (one shared `O=` directory per tree and config: incremental builds), runs
//! the scenario up to `--tries` times, and marks the commit good, bad or
//! skip. A commit that does not build is skipped; a rig that cannot build
//! its agent or image stops the bisect with [`ABORT_EXIT`]. `--step` tests
//! the tree's HEAD once and exits 0/1/125 (or [`ABORT_EXIT`]), for use as
//! the command of a plain `git bisect run`.

pub mod git;
pub mod step;

use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use xshell::Shell;

use crate::commands::flags::{HostArgs, ResultsArgs};
use crate::executor::Plan;
use crate::guest::reaper;
use crate::kernel::build::BuildEnv;
use crate::outcome::Verdict;
use crate::progress::Progress;
use crate::reporter::{self, Detail};
use crate::{doctor, fsutil, inputs, project, results, variant};
use git::State;
use step::{Mark, StepContext, StepRecord};

/// Exit code when only skipped commits are left (the first bad commit is
/// one of several).
pub const AMBIGUOUS_EXIT: u8 = 3;

/// Exit code when the rig itself cannot test (its agent or image does not
/// build): `git bisect run` aborts on codes >= 128 rather than marking the
/// commit, and a bisect run by modrig stops with it too.
pub const ABORT_EXIT: u8 = 128;

#[derive(Debug, Args)]
pub struct BisectArgs {
    /// The kernel git tree to bisect (only read: never checked out or changed)
    #[arg(long, value_name = "PATH")]
    pub tree: PathBuf,
    /// A revision where the scenario passes
    #[arg(long, value_name = "REV", required_unless_present_any = ["replay", "step"])]
    pub good: Option<String>,
    /// A revision where it fails
    #[arg(long, value_name = "REV", required_unless_present_any = ["replay", "step"])]
    pub bad: Option<String>,
    /// The scenario (a file, a name in scenarios/, or a built-in such as load-unload)
    #[arg(long, value_name = "NAME")]
    pub scenario: String,
    /// vCPUs (default: the scenario's)
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// Run a passing step up to N times before calling it good (flaky failures)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub tries: u32,
    /// Kconfig fragments (names in kernel-configs/ or paths), merged in order
    #[arg(long = "config", value_name = "FRAGMENT", default_values_t = vec!["base".to_string(), "victims".to_string()])]
    pub configs: Vec<String>,
    /// Verdicts that mark a commit bad (others than PASS skip it)
    #[arg(long, value_delimiter = ',', value_name = "hang,panic,fail", default_value = "hang,panic,fail")]
    pub bad_on: Vec<BadOn>,
    /// Resume an interrupted bisect from its saved log (bisect.log)
    #[arg(long, value_name = "LOG", conflicts_with_all = ["good", "bad", "step"])]
    pub replay: Option<PathBuf>,
    /// Test the tree's HEAD once and exit 0 (good), 1 (bad) or 125 (skip):
    /// the command for `git bisect run`
    #[arg(long)]
    pub step: bool,
    #[command(flatten)]
    pub results: ResultsArgs,
    #[command(flatten)]
    pub host: HostArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadOn {
    Hang,
    Panic,
    Fail,
}

impl BadOn {
    fn verdict(self) -> Verdict {
        match self {
            BadOn::Hang => Verdict::Hang,
            BadOn::Panic => Verdict::Panic,
            BadOn::Fail => Verdict::Fail,
        }
    }
}

/// The bisect's directory and its logs.
struct Workspace {
    dir: PathBuf,
    repo: PathBuf,
    steps: Vec<StepRecord>,
}

impl Workspace {
    fn step_dir(&self, n: usize, commit: &str) -> PathBuf {
        self.dir.join("steps").join(format!("{n:02}-{}", &commit[..commit.len().min(12)]))
    }

    fn record(&mut self, record: StepRecord) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("steps.jsonl"))
            .context("cannot write steps.jsonl")?;
        writeln!(file, "{}", serde_json::to_string(&record)?)?;
        self.steps.push(record);
        Ok(())
    }

    /// Saves `git bisect log` after every mark: what `--replay` resumes from.
    fn save_log(&self, sh: &Shell) -> Result<()> {
        fsutil::write_atomic(&self.dir.join("bisect.log"), git::log(sh, &self.repo)?.as_bytes())
    }
}

impl BisectArgs {
    pub fn run(self, sh: &Shell) -> Result<ExitCode> {
        let started = Instant::now();
        reaper::install_signal_handler()?;
        let tree = project::absolute(&self.tree)?;
        if !tree.join(".git").exists() {
            bail!("--tree {}: not a git work tree (no .git)", tree.display());
        }
        let module_dirs = inputs::module_dirs(&[], &self.host.module_dirs)?;
        let plan = Plan::resolve(&self.scenario, &module_dirs)?;
        let vcpus = self.vcpus.unwrap_or_else(|| plan.default_vcpus());
        let configs = self.configs.iter().map(|c| fragment(c)).collect::<Result<Vec<_>>>()?;
        let bad_on: Vec<Verdict> = self.bad_on.iter().map(|b| b.verdict()).collect();
        doctor::ensure_host(sh, doctor::Needs::Everything, self.host.no_install)?;
        let cache = project::cache_dir(self.host.cache_dir.as_deref())?;
        let reporter = reporter::for_command(false, Detail::Steps);
        let mut env = BuildEnv::new(sh, cache, reporter.as_ref())?;
        env.user_module_dirs = module_dirs;
        let cx = StepContext {
            sh,
            env: &env,
            host: &self.host,
            tree: &tree,
            configs: &configs,
            plan: &plan,
            vcpus,
            tries: self.tries.max(1),
            bad_on: &bad_on,
        };
        let results_root = self.results.dir();

        if self.step {
            return self.run_step(sh, &cx, &results_root);
        }
        let (_, dir) = results::create_run_dir(&results_root, "bisect")?;
        let repo = dir.join("repo");
        git::clone(sh, &tree, &repo)?;
        let mut ws = Workspace { dir, repo, steps: Vec::new() };
        eprintln!(
            "bisect: {} with `{}` on {vcpus} vCPUs, {} tr{} per passing step, bad on {}; logs in {}",
            tree.display(),
            plan.name(),
            cx.tries,
            if cx.tries == 1 { "y" } else { "ies" },
            bad_on.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("/"),
            ws.dir.display()
        );

        let mut state = match &self.replay {
            Some(log) => {
                let log = project::absolute(log)?;
                std::fs::copy(&log, ws.dir.join("replayed.log"))
                    .with_context(|| format!("cannot read the bisect log {}", log.display()))?;
                let log_arg = log.to_string_lossy().into_owned();
                let state = git::bisect(sh, &ws.repo, &["replay", &log_arg])?;
                eprintln!("bisect: replayed {}", log.display());
                state
            }
            None => {
                let good = git::resolve(sh, &tree, self.good.as_deref().unwrap_or_default())?;
                let bad = git::resolve(sh, &tree, self.bad.as_deref().unwrap_or_default())?;
                if check_endpoints(&cx, &mut ws, &good, &bad)?.is_break() {
                    return Ok(stop(&ws, "then run the bisect again", started));
                }
                git::bisect(sh, &ws.repo, &["start", "--no-checkout", &bad, &good])?
            }
        };
        ws.save_log(sh)?;

        loop {
            match state {
                State::Next { commit, steps_left } => {
                    let n = ws.steps.len() + 1;
                    let record = run_one(&cx, &ws, n, "bisect", &commit, steps_left);
                    let mark = record.mark;
                    ws.record(record)?;
                    if mark == Mark::Abort {
                        let log = ws.dir.join("bisect.log");
                        return Ok(stop(&ws, &format!("then resume with --replay {}", log.display()), started));
                    }
                    state = git::bisect(sh, &ws.repo, &[mark.word(), &commit])?;
                    ws.save_log(sh)?;
                }
                State::FirstBad(commit) => {
                    print_result(sh, &ws, &commit, started);
                    return Ok(ExitCode::SUCCESS);
                }
                State::OnlySkipped(commits) => {
                    println!("bisect: only skipped commits are left; the first bad commit is one of:");
                    for commit in &commits {
                        let (subject, author) = git::describe(sh, &ws.repo, commit);
                        println!("  {} {subject} ({author})", &commit[..12.min(commit.len())]);
                    }
                    print_steps(&ws, started);
                    return Ok(ExitCode::from(AMBIGUOUS_EXIT));
                }
            }
        }
    }

    /// `--step`: one test of the tree's HEAD, for `git bisect run`.
    fn run_step(&self, sh: &Shell, cx: &StepContext<'_>, results_root: &Path) -> Result<ExitCode> {
        let commit = git::resolve(sh, cx.tree, "HEAD")?;
        let (subject, _) = git::describe(sh, cx.tree, &commit);
        let (_, dir) = results::create_run_dir(results_root, &format!("bisect-step-{}", &commit[..12]))?;
        let record = step::test_commit(cx, 1, "step", &commit, &subject, &dir);
        fsutil::write_atomic(&dir.join("step.json"), &serde_json::to_vec_pretty(&record)?)?;
        println!("{}", step_line(&record));
        print_excerpt(&record);
        Ok(ExitCode::from(record.mark.run_exit_code()))
    }
}

/// The `--config` fragment `name`: a name in `kernel-configs/`, or a path
/// relative to the current directory.
fn fragment(name: &str) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = variant::fragment_path(name, &project::kernel_configs_dir(), &cwd);
    if !path.is_file() {
        bail!("--config {name}: no Kconfig fragment at {}", path.display());
    }
    Ok(path)
}

/// Good must pass and bad must fail, or bisecting would only find noise.
/// Breaks when the rig could not test an endpoint.
fn check_endpoints(cx: &StepContext<'_>, ws: &mut Workspace, good: &str, bad: &str) -> Result<ControlFlow<()>> {
    let good_record = run_one(cx, ws, 1, "check-good", good, None);
    let good_mark = good_record.mark;
    let good_reason = good_record.reason.clone();
    ws.record(good_record)?;
    if good_mark == Mark::Abort {
        return Ok(ControlFlow::Break(()));
    }
    if good_mark != Mark::Good {
        bail!(
            "the good endpoint {} does not pass ({}: {good_reason}); pick an older --good, or check the scenario (logs: {})",
            &good[..12],
            good_mark.word(),
            ws.dir.display()
        );
    }
    let bad_record = run_one(cx, ws, 2, "check-bad", bad, None);
    let bad_mark = bad_record.mark;
    let bad_reason = bad_record.reason.clone();
    ws.record(bad_record)?;
    if bad_mark == Mark::Abort {
        return Ok(ControlFlow::Break(()));
    }
    if bad_mark != Mark::Bad {
        let hint = if bad_mark == Mark::Good {
            format!("it passed {} time(s): if the failure is flaky, raise --tries", cx.tries)
        } else {
            "it could not be tested".to_string()
        };
        bail!("the bad endpoint {} does not fail ({bad_reason}); {hint} (logs: {})", &bad[..12], ws.dir.display());
    }
    Ok(ControlFlow::Continue(()))
}

/// The bisect stops because the rig could not test the last step's commit:
/// says why (with the end of the build log), how to go on, and returns
/// [`ABORT_EXIT`].
fn stop(ws: &Workspace, how_to_go_on: &str, started: Instant) -> ExitCode {
    if let Some(step) = ws.steps.last() {
        println!("\nbisect: stopped (INFRA) at {}: {}", &step.commit[..12.min(step.commit.len())], step.reason);
        print_excerpt(step);
    }
    println!("bisect: fix the rig, {how_to_go_on}");
    print_steps(ws, started);
    ExitCode::from(ABORT_EXIT)
}

fn run_one(cx: &StepContext<'_>, ws: &Workspace, n: usize, phase: &str, commit: &str, left: Option<u32>) -> StepRecord {
    let (subject, _) = git::describe(cx.sh, &ws.repo, commit);
    let reporter = cx.env.reporter;
    reporter.report(&Progress::BisectStepStarted {
        step: n as u32,
        commit: commit.to_string(),
        subject: subject.clone(),
        phase: phase.to_string(),
        left,
    });
    let record = step::test_commit(cx, n, phase, commit, &subject, &ws.step_dir(n, commit));
    reporter.report(&Progress::BisectStepEnded {
        step: n as u32,
        commit: commit.to_string(),
        mark: record.mark.word().to_string(),
        reason: record.reason.clone(),
    });
    println!("{}", step_line(&record));
    record
}

fn step_line(r: &StepRecord) -> String {
    let verdict = r.verdict.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    format!(
        "  {:>2} {:<10} {} {:<50} {:>5} x{} -> {:<4}  build {:.1} s, boot {:.1} s, scenario {:.1} s  {}",
        r.n,
        r.phase,
        &r.commit[..12.min(r.commit.len())],
        clip(&r.subject, 50),
        verdict,
        r.tries,
        r.mark.word(),
        r.build_s,
        r.boot_s,
        r.scenario_s,
        if matches!(r.mark, Mark::Skip | Mark::Abort) { clip(&r.reason, 200) } else { String::new() }
    )
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    }
}

/// The step's excerpt, if it has one: a kernel report from the console
/// log, or a failed build's error with the end of its build log.
fn print_excerpt(step: &StepRecord) {
    let Some(excerpt) = &step.excerpt else {
        return;
    };
    let lines: Vec<&str> = excerpt.lines().collect();
    // A kernel report can be long, and the whole of it is in the console
    // log; a failed build's error is already cut to its log's last lines,
    // which are the ones that say why.
    let shown = if step.console_log.is_some() { 25 } else { lines.len() };
    for line in lines.iter().take(shown) {
        println!("    | {line}");
    }
    if lines.len() > shown {
        println!("    | ... {} more lines in the console log", lines.len() - shown);
    }
}

fn print_result(sh: &Shell, ws: &Workspace, commit: &str, started: Instant) {
    let (subject, author) = git::describe(sh, &ws.repo, commit);
    println!("\nfirst bad commit: {commit}");
    println!("  subject: {subject}");
    println!("  author:  {author}");
    // The step that convicted it (the bad endpoint's check when the first
    // bad commit is the bad endpoint itself).
    match ws.steps.iter().rev().find(|s| s.commit == *commit && s.mark == Mark::Bad) {
        Some(step) => {
            println!("  verdict: {}", step.reason);
            print_excerpt(step);
            if let Some(console) = &step.console_log {
                println!("  console: {}", console.display());
            }
        }
        None => println!("  verdict: from the replayed log (the evidence is in the original bisect's steps)"),
    }
    let mut result = String::new();
    let _ = writeln!(result, "{commit} {subject}\n{author}");
    let _ = fsutil::write_atomic(&ws.dir.join("first-bad-commit.txt"), result.as_bytes());
    print_steps(ws, started);
}

fn print_steps(ws: &Workspace, started: Instant) {
    println!("\nsteps (each one's logs: {}/steps/NN-<commit>/try-N/):", ws.dir.display());
    for record in &ws.steps {
        println!("{}", step_line(record));
    }
    println!(
        "bisect log: {} (resume with --replay; inspect with git -C {} bisect log)",
        ws.dir.join("bisect.log").display(),
        ws.repo.display()
    );
    println!("total: {:.1} s", started.elapsed().as_secs_f64());
}
