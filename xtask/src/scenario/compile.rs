//! From a validated [`Scenario`] to the agent's [`Program`], and from the
//! agent's events back to what they mean for the scenario.
//!
//! Compiling keeps, for every step of the program (by its pre-order index,
//! the numbering events use), the [`Role`] it plays: a load or unload with
//! its accepted outcomes, a file check, a shell with an expected status.
//! Evaluating walks the events once with that table: it finds the broken
//! expectations and gathers the metrics. Both are pure.

use std::collections::BTreeMap;

use modrig_proto::{Branch, Event, EventKind, Program, Step as AgentStep, UnloadFlags};

use super::{Cpus, Final, HammerAction, HogAction, LoopBound, Outcome, ReadCheck, SamplerAction, Scenario, Step};
use crate::errno;
pub use crate::metrics::Metrics;

/// How long to wait after a windowed unload before reading the sampler's
/// window: timers held off by a stall fire (late) when it ends, and a
/// sample belongs to the window in which it fired.
const WINDOW_SETTLE_MS: u64 = 10;

/// What a program step is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A module load or unload and the outcomes the scenario accepts.
    /// `measured`: it counts in the latency and outcome metrics (the
    /// scenario's own loads and unloads; not starting or stopping a stress
    /// module).
    Call { what: String, expect: Vec<Outcome>, measured: bool },
    /// A file read whose content is checked.
    Check { what: String, check: ReadCheck },
    /// A file read for the final `absent:` expectation.
    Absent { what: String, modules: Vec<String> },
    /// A shell command, maybe with an expected exit status.
    Shell { what: String, status: Option<i32> },
    /// Anything else (sleep, write, open, close, loop, parallel): it only has
    /// to run.
    Plain { what: String },
    /// Reading the stall sampler's per-CPU window after the unload with
    /// pre-order index `unload`.
    Window { what: String, unload: usize },
    /// Reading the refcount hammer's per-CPU stats before it stops.
    HammerStats { what: String },
}

/// Where the stress modules keep their debugfs files.
const DEBUGFS: &str = "/sys/kernel/debug/modrig";

#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    /// By pre-order step index.
    pub roles: Vec<Role>,
    /// CPUs a hog holds: their lateness is the hold itself, so the stall
    /// metric leaves them out like the unloading CPU.
    pub hogged_cpus: Vec<u32>,
}

pub fn compile(scenario: &Scenario) -> Compiled {
    let mut roles = Vec::new();
    let mut steps = compile_steps(&scenario.steps, "steps", &mut roles);
    steps.extend(final_steps(&scenario.expect, &mut roles));
    let mut hogged_cpus = Vec::new();
    collect_hogged(&scenario.steps, &mut hogged_cpus);
    Compiled { program: Program { steps }, roles, hogged_cpus }
}

fn compile_steps(steps: &[Step], path: &str, roles: &mut Vec<Role>) -> Vec<AgentStep> {
    steps.iter().enumerate().map(|(i, step)| compile_step(step, &format!("{path}[{i}]"), roles)).collect()
}

/// Compound scenario steps (a windowed unload, stopping the hammer) become
/// a one-iteration agent loop of several steps, so that the program's
/// pre-order numbering and the role table stay in step.
fn compile_step(step: &Step, path: &str, roles: &mut Vec<Role>) -> AgentStep {
    // Pre-order: this step's role first, then its children's.
    let index = roles.len();
    roles.push(Role::Plain { what: path.to_string() });
    let what = |verb: &str, arg: &str| format!("{path} ({verb} {arg})");
    let compiled = match step {
        Step::Load { module, params, expect } => {
            roles[index] = Role::Call { what: what("load", module), expect: expect.clone(), measured: true };
            AgentStep::Load { path: format!("/modules/{module}.ko"), params: params.clone() }
        }
        Step::Unload { module, force, nonblock, expect, window } => {
            let unload =
                AgentStep::Unload { name: module.clone(), flags: UnloadFlags { force: *force, nonblock: *nonblock } };
            if !*window {
                roles[index] = Role::Call { what: what("unload", module), expect: expect.clone(), measured: true };
                return unload;
            }
            // Open the window, unload, close it, let held-off timers fire (a
            // few periods), read it: the lateness of the expiries that were
            // due while the unload ran, on every CPU. Attributing by due
            // time keeps the host's own noise before and after the syscall
            // out of the unload's window.
            let window_file = format!("{DEBUGFS}/stall_sampler/window");
            roles.push(Role::Plain { what: format!("{path} (open the sampler window)") });
            let unload_index = roles.len();
            roles.push(Role::Call { what: what("unload", module), expect: expect.clone(), measured: true });
            roles.push(Role::Plain { what: format!("{path} (close the sampler window)") });
            roles.push(Role::Plain { what: format!("{path} (let late timers fire)") });
            roles.push(Role::Window { what: format!("{path} (read the sampler window)"), unload: unload_index });
            AgentStep::Loop {
                count: Some(1),
                duration_ms: None,
                until_ok: false,
                steps: vec![
                    AgentStep::WriteFile { path: window_file.clone(), content: "reset".into() },
                    unload,
                    AgentStep::WriteFile { path: window_file.clone(), content: "close".into() },
                    AgentStep::Sleep { ms: WINDOW_SETTLE_MS },
                    AgentStep::ReadFile { path: window_file },
                ],
            }
        }
        Step::Loop { bound, until_ok, steps } => {
            let (count, duration_ms) = match bound {
                LoopBound::Count(n) => (Some(u64::from(*n)), None),
                LoopBound::Duration(d) => (None, Some(d.as_millis() as u64)),
            };
            let steps = compile_steps(steps, &format!("{path}.loop.steps"), roles);
            AgentStep::Loop { count, duration_ms, until_ok: *until_ok, steps }
        }
        Step::Parallel { branches } => {
            let mut out = Vec::new();
            for (b, branch) in branches.iter().enumerate() {
                let steps = compile_steps(&branch.steps, &format!("{path}.parallel[{b}].steps"), roles);
                out.push(Branch { cpu: branch.cpu, steps });
            }
            AgentStep::Parallel { branches: out }
        }
        Step::Sleep(d) => AgentStep::Sleep { ms: d.as_millis() as u64 },
        Step::Sampler(SamplerAction::Start { period, threshold, thread }) => {
            let params = format!(
                "period_us={} threshold_us={} thread={}",
                period.as_micros().max(1),
                threshold.as_micros(),
                if *thread { 1 } else { 0 }
            );
            roles[index] =
                Role::Call { what: what("start", "stall_sampler"), expect: vec![Outcome::Ok], measured: false };
            AgentStep::Load { path: "/modules/stall_sampler.ko".into(), params }
        }
        Step::Hammer(HammerAction::Start { target, cpus, duration }) => {
            let mut params = format!("target={target} autostart=1");
            if let Cpus::List(list) = cpus {
                let list: Vec<String> = list.iter().map(|c| c.to_string()).collect();
                params.push_str(&format!(" cpus={}", list.join(",")));
            }
            if let Some(d) = duration {
                params.push_str(&format!(" duration_ms={}", d.as_millis()));
            }
            roles[index] =
                Role::Call { what: what("start", "refcount_hammer"), expect: vec![Outcome::Ok], measured: false };
            AgentStep::Load { path: "/modules/refcount_hammer.ko".into(), params }
        }
        Step::Hog(HogAction::Start { cpu, hold, period }) => {
            let params = format!("cpu={cpu} hold_ms={} period_ms={}", hold.as_millis().max(1), period.as_millis());
            roles[index] = Role::Call { what: what("start", "hog"), expect: vec![Outcome::Ok], measured: false };
            AgentStep::Load { path: "/modules/hog.ko".into(), params }
        }
        Step::Hammer(HammerAction::Stop) => {
            // Read what the hammer counted, then unload it.
            roles[index] = Role::Plain { what: format!("{path} (stop the hammer)") };
            roles.push(Role::HammerStats { what: format!("{path} (read the hammer's stats)") });
            roles.push(Role::Call {
                what: what("stop", "refcount_hammer"),
                expect: vec![Outcome::Ok],
                measured: false,
            });
            AgentStep::Loop {
                count: Some(1),
                duration_ms: None,
                until_ok: false,
                steps: vec![
                    AgentStep::ReadFile { path: format!("{DEBUGFS}/refcount_hammer/stats") },
                    AgentStep::Unload { name: "refcount_hammer".into(), flags: UnloadFlags::default() },
                ],
            }
        }
        Step::Sampler(SamplerAction::Stop) | Step::Hog(HogAction::Stop) => {
            let module = if matches!(step, Step::Hog(_)) { "hog" } else { "stall_sampler" };
            roles[index] = Role::Call { what: what("stop", module), expect: vec![Outcome::Ok], measured: false };
            AgentStep::Unload { name: module.into(), flags: UnloadFlags::default() }
        }
        Step::Open { path: file, handle } => AgentStep::Open { path: file.clone(), handle: handle.clone() },
        Step::Close { handle } => AgentStep::Close { handle: handle.clone() },
        Step::Read { path: file, check } => {
            roles[index] = Role::Check { what: what("read", file), check: check.clone() };
            AgentStep::ReadFile { path: file.clone() }
        }
        Step::Write { path: file, content } => AgentStep::WriteFile { path: file.clone(), content: content.clone() },
        Step::Shell { command, status } => {
            roles[index] = Role::Shell { what: what("shell", command), status: *status };
            AgentStep::Shell { command: command.clone() }
        }
    };
    compiled
}

fn collect_hogged(steps: &[Step], cpus: &mut Vec<u32>) {
    for step in steps {
        match step {
            Step::Hog(HogAction::Start { cpu, .. }) => cpus.push(*cpu),
            Step::Loop { steps, .. } => collect_hogged(steps, cpus),
            Step::Parallel { branches } => branches.iter().for_each(|b| collect_hogged(&b.steps, cpus)),
            _ => {}
        }
    }
}

/// The final expectations become reads at the end of the program.
fn final_steps(expect: &Final, roles: &mut Vec<Role>) -> Vec<AgentStep> {
    let mut steps = Vec::new();
    for (module, value) in &expect.refcount {
        let path = format!("/sys/module/{module}/refcnt");
        roles.push(Role::Check {
            what: format!("expect.refcount.{module}"),
            check: ReadCheck { equals: Some(format!("{value}\n")), ..ReadCheck::default() },
        });
        steps.push(AgentStep::ReadFile { path });
    }
    if !expect.absent.is_empty() {
        roles.push(Role::Absent { what: "expect.absent".to_string(), modules: expect.absent.clone() });
        steps.push(AgentStep::ReadFile { path: "/proc/modules".to_string() });
    }
    steps
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Broken expectations, aggregated per step and result.
    pub broken: Vec<String>,
    pub metrics: Metrics,
}

/// Reads the agent's events against the roles.
pub fn evaluate(compiled: &Compiled, events: &[Event]) -> Evaluation {
    let mut eval = Evaluation::default();
    // (what, got, wanted) -> (times, iterations seen)
    let mut misses: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut ran: BTreeMap<usize, u64> = BTreeMap::new();
    // The CPU of the latest call at each step, for attributing windows.
    let mut unload_cpus: BTreeMap<usize, Option<u32>> = BTreeMap::new();
    let (mut loads_ok, mut unloads_ok) = (0u64, 0u64);
    let (mut first_t, mut last_t) = (u64::MAX, 0u64);
    for event in events {
        if let EventKind::AgentError { message } = &event.kind {
            let at = event.step.map(|s| format!("step {s}: ")).unwrap_or_default();
            eval.broken.push(format!("{at}agent error: {message}"));
            continue;
        }
        let Some(index) = event.step else { continue };
        let Some(role) = compiled.roles.get(index) else { continue };
        *ran.entry(index).or_default() += 1;
        if let (Role::Call { .. }, EventKind::Syscall { .. }) = (role, &event.kind) {
            unload_cpus.insert(index, event.cpu);
        }
        match (role, &event.kind) {
            (
                Role::Call { what, expect, measured },
                EventKind::Syscall { name, errno: result_errno, duration_ns, .. },
            ) => {
                let outcome = result_errno.map(Outcome::Errno).unwrap_or(Outcome::Ok);
                if !expect.contains(&outcome) {
                    let wanted = expect.iter().map(|o| outcome_name(*o)).collect::<Vec<_>>().join(" or ");
                    *misses
                        .entry((what.clone(), format!("{name} returned {}", outcome_name(outcome)), wanted))
                        .or_default() += 1;
                }
                if !measured {
                    continue;
                }
                *eval.metrics.outcomes.entry(format!("{what} = {}", outcome_name(outcome))).or_default() += 1;
                match name.as_str() {
                    "delete_module" => {
                        eval.metrics.unload_latency_ns.push(*duration_ns);
                        if outcome == Outcome::Ok {
                            unloads_ok += 1;
                        }
                    }
                    "finit_module" => {
                        eval.metrics.load_latency_ns.push(*duration_ns);
                        if outcome == Outcome::Ok {
                            loads_ok += 1;
                        }
                    }
                    _ => {}
                }
                first_t = first_t.min(event.t_ns);
                last_t = last_t.max(event.t_ns + duration_ns);
            }
            (Role::Check { what, check }, EventKind::FileRead { content, errno, .. }) => {
                if let Some(problem) = check_content(check, content.as_deref(), *errno) {
                    *misses.entry((what.clone(), problem, check_wanted(check))).or_default() += 1;
                }
            }
            (Role::Absent { what, modules }, EventKind::FileRead { content, .. }) => {
                let text = content.as_deref().unwrap_or("");
                for module in modules {
                    if text.lines().any(|l| l.split_whitespace().next() == Some(module)) {
                        eval.broken.push(format!("{what}: module {module} is still loaded"));
                    }
                }
            }
            (Role::Shell { what, status: Some(want) }, EventKind::ShellDone { status, output, .. })
                if status != want =>
            {
                let tail: String = output.lines().last().unwrap_or("").chars().take(120).collect();
                *misses
                    .entry((what.clone(), format!("exit status {status} ({tail})"), format!("status {want}")))
                    .or_default() += 1;
            }
            (Role::Window { what, unload }, EventKind::FileRead { content, errno: read_errno, .. }) => {
                let Some(text) = content else {
                    eval.broken.push(format!(
                        "{what}: cannot read the window: {}",
                        read_errno.map(errno::name).unwrap_or_default()
                    ));
                    continue;
                };
                let windows = parse_records(text);
                let unload_cpu = unload_cpus.get(unload).copied().flatten();
                let other = |key: &str| -> Option<u64> {
                    windows
                        .iter()
                        .filter(|w| {
                            let cpu = w.get("cpu").and_then(|c| c.parse::<u32>().ok());
                            cpu != unload_cpu && !cpu.is_some_and(|c| compiled.hogged_cpus.contains(&c))
                        })
                        .filter_map(|w| w.get(key).and_then(|v| v.parse::<u64>().ok()))
                        .min()
                };
                if windows.is_empty() {
                    eval.broken.push(format!("{what}: the sampler's window is empty (is the sampler running?)"));
                }
                // No sample when every sampled CPU is the unloading or a
                // hogged one (e.g. the hog scenario on 2 vCPUs).
                if let Some(ns) = other("max_late_ns") {
                    eval.metrics.stall_other_cpus_ns.push(ns);
                }
                let thread_samples = windows.iter().any(|w| w.get("thread_samples").is_some_and(|v| *v != "0"));
                if thread_samples {
                    if let Some(ns) = other("thread_max_late_ns") {
                        eval.metrics.stall_other_cpus_thread_ns.push(ns);
                    }
                }
            }
            (Role::HammerStats { what }, EventKind::FileRead { content: Some(text), .. }) => {
                for record in parse_records(text) {
                    let field = |k: &str| record.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    eval.metrics.refcount_ops_per_sec.push((field("cpu") as u32, field("ops_per_sec")));
                    if field("anomalies") > 0 {
                        eval.broken.push(format!(
                            "{what}: CPU {} saw {} refcount anomalies (get while GOING: {}, put at zero: {})",
                            field("cpu"),
                            field("anomalies"),
                            field("anom_get_going"),
                            field("anom_put_zero")
                        ));
                    }
                }
            }
            (_, EventKind::Opened { path, errno: Some(e), .. }) => {
                eval.broken.push(format!("step {index}: cannot open {path}: {}", errno::name(*e)));
            }
            (_, EventKind::Closed { handle, errno: Some(e) }) => {
                eval.broken.push(format!("step {index}: cannot close {handle}: {}", errno::name(*e)));
            }
            (Role::Call { what, .. }, other) => {
                eval.broken.push(format!("{what}: the agent reported {other:?} instead of a syscall"));
            }
            _ => {}
        }
    }
    for ((what, got, wanted), times) in misses {
        let runs = compiled
            .roles
            .iter()
            .position(|r| role_what(r) == what)
            .and_then(|i| ran.get(&i))
            .copied()
            .unwrap_or(times);
        let count = if runs > 1 { format!(" ({times} of {runs} times)") } else { String::new() };
        eval.broken.push(format!("{what}: expected {wanted}, got {got}{count}"));
    }
    let pairs = loads_ok.min(unloads_ok);
    if pairs > 0 && last_t > first_t {
        eval.metrics.cycles_per_sec = Some(pairs as f64 / ((last_t - first_t) as f64 / 1e9));
    }
    eval
}

fn role_what(role: &Role) -> &str {
    match role {
        Role::Call { what, .. }
        | Role::Check { what, .. }
        | Role::Absent { what, .. }
        | Role::Shell { what, .. }
        | Role::Plain { what }
        | Role::Window { what, .. }
        | Role::HammerStats { what } => what,
    }
}

/// `key=value key=value` lines (the stress modules' debugfs format).
pub fn parse_records(text: &str) -> Vec<BTreeMap<&str, &str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().filter_map(|kv| kv.split_once('=')).collect())
        .collect()
}

fn outcome_name(outcome: Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Errno(e) => errno::name(e),
    }
}

/// What is wrong with a read's content, if anything.
fn check_content(check: &ReadCheck, content: Option<&str>, read_errno: Option<i32>) -> Option<String> {
    let Some(text) = content else {
        return Some(format!(
            "the read failed with {}",
            read_errno.map(errno::name).unwrap_or_else(|| "an error".into())
        ));
    };
    if let Some(want) = &check.equals {
        if text != want {
            return Some(format!("{text:?}"));
        }
    }
    if let Some(want) = &check.contains {
        if !text.contains(want.as_str()) {
            return Some(format!("content without {want:?}"));
        }
    }
    if let Some(re) = &check.lines {
        if let Some(bad) = text.lines().find(|l| !re.is_match(l)) {
            return Some(format!("the line {bad:?}"));
        }
    }
    None
}

fn check_wanted(check: &ReadCheck) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &check.equals {
        parts.push(format!("{e:?}"));
    }
    if let Some(c) = &check.contains {
        parts.push(format!("content with {c:?}"));
    }
    if let Some(re) = &check.lines {
        parts.push(format!("every line to match /{}/", re.as_str()));
    }
    parts.join(" and ")
}

#[cfg(test)]
mod tests;
