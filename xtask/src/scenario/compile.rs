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
    match step {
        Step::Load { module, params, expect, in_tree } => {
            roles[index] = Role::Call { what: what("load", module), expect: expect.clone(), measured: true };
            if *in_tree {
                AgentStep::LoadInTree { name: module.clone(), params: params.clone() }
            } else {
                AgentStep::Load { path: module_file(module), params: params.clone() }
            }
        }
        Step::Unload { module, force, nonblock, expect, window } => {
            let unload =
                AgentStep::Unload { name: module.clone(), flags: UnloadFlags { force: *force, nonblock: *nonblock } };
            let call = Role::Call { what: what("unload", module), expect: expect.clone(), measured: true };
            if *window {
                windowed_unload(path, unload, call, roles)
            } else {
                roles[index] = call;
                unload
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
            roles[index] = stress_call(what("start", "stall_sampler"));
            AgentStep::Load { path: module_file("stall_sampler"), params }
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
            roles[index] = stress_call(what("start", "refcount_hammer"));
            AgentStep::Load { path: module_file("refcount_hammer"), params }
        }
        Step::Hog(HogAction::Start { cpu, hold, period }) => {
            let params = format!("cpu={cpu} hold_ms={} period_ms={}", hold.as_millis().max(1), period.as_millis());
            roles[index] = stress_call(what("start", "hog"));
            AgentStep::Load { path: module_file("hog"), params }
        }
        Step::Hammer(HammerAction::Stop) => {
            // Read what the hammer counted, then unload it.
            roles[index] = Role::Plain { what: format!("{path} (stop the hammer)") };
            roles.push(Role::HammerStats { what: format!("{path} (read the hammer's stats)") });
            roles.push(stress_call(what("stop", "refcount_hammer")));
            one_iteration(vec![
                AgentStep::ReadFile { path: format!("{DEBUGFS}/refcount_hammer/stats") },
                AgentStep::Unload { name: "refcount_hammer".into(), flags: UnloadFlags::default() },
            ])
        }
        Step::Sampler(SamplerAction::Stop) | Step::Hog(HogAction::Stop) => {
            let module = if matches!(step, Step::Hog(_)) { "hog" } else { "stall_sampler" };
            roles[index] = stress_call(what("stop", module));
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
    }
}

/// A windowed unload: open the sampler's window, unload, close it, let
/// held-off timers fire (a few periods), read it: the lateness of the
/// expiries that were due while the unload ran, on every CPU. Attributing
/// by due time keeps the host's own noise before and after the syscall out
/// of the unload's window.
fn windowed_unload(path: &str, unload: AgentStep, call: Role, roles: &mut Vec<Role>) -> AgentStep {
    let window_file = format!("{DEBUGFS}/stall_sampler/window");
    roles.push(Role::Plain { what: format!("{path} (open the sampler window)") });
    let unload_index = roles.len();
    roles.push(call);
    roles.push(Role::Plain { what: format!("{path} (close the sampler window)") });
    roles.push(Role::Plain { what: format!("{path} (let late timers fire)") });
    roles.push(Role::Window { what: format!("{path} (read the sampler window)"), unload: unload_index });
    one_iteration(vec![
        AgentStep::WriteFile { path: window_file.clone(), content: "reset".into() },
        unload,
        AgentStep::WriteFile { path: window_file.clone(), content: "close".into() },
        AgentStep::Sleep { ms: WINDOW_SETTLE_MS },
        AgentStep::ReadFile { path: window_file },
    ])
}

/// An agent loop that runs `steps` once: several agent steps under the one
/// pre-order index of a compound scenario step.
fn one_iteration(steps: Vec<AgentStep>) -> AgentStep {
    AgentStep::Loop { count: Some(1), duration_ms: None, until_ok: false, steps }
}

/// Starting or stopping a stress module must work; it is not measured.
fn stress_call(what: String) -> Role {
    Role::Call { what, expect: vec![Outcome::Ok], measured: false }
}

/// Where the guest's initramfs keeps a module's `.ko`.
fn module_file(module: &str) -> String {
    format!("/modules/{module}.ko")
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
    let mut evaluator = Evaluator::new(compiled);
    for event in events {
        evaluator.event(event);
    }
    evaluator.finish()
}

/// What [`evaluate`] has gathered so far, one event at a time.
struct Evaluator<'a> {
    compiled: &'a Compiled,
    eval: Evaluation,
    /// (what, got, wanted) -> times; reported once each, at the end.
    misses: BTreeMap<(String, String, String), u64>,
    /// Pre-order step index -> the events seen at it (its iterations).
    ran: BTreeMap<usize, u64>,
    /// The CPU of the latest call at each step, for attributing windows.
    unload_cpus: BTreeMap<usize, Option<u32>>,
    loads_ok: u64,
    unloads_ok: u64,
    /// The span of the measured calls, for cycles per second.
    first_t: u64,
    last_t: u64,
}

impl<'a> Evaluator<'a> {
    fn new(compiled: &'a Compiled) -> Self {
        Evaluator {
            compiled,
            eval: Evaluation::default(),
            misses: BTreeMap::new(),
            ran: BTreeMap::new(),
            unload_cpus: BTreeMap::new(),
            loads_ok: 0,
            unloads_ok: 0,
            first_t: u64::MAX,
            last_t: 0,
        }
    }

    fn miss(&mut self, what: &str, got: String, wanted: String) {
        *self.misses.entry((what.to_string(), got, wanted)).or_default() += 1;
    }

    fn event(&mut self, event: &Event) {
        if let EventKind::AgentError { message } = &event.kind {
            let at = event.step.map(|s| format!("step {s}: ")).unwrap_or_default();
            self.eval.broken.push(format!("{at}agent error: {message}"));
            return;
        }
        let Some(index) = event.step else { return };
        let compiled = self.compiled;
        let Some(role) = compiled.roles.get(index) else { return };
        *self.ran.entry(index).or_default() += 1;
        if let (Role::Call { .. }, EventKind::Syscall { .. }) = (role, &event.kind) {
            self.unload_cpus.insert(index, event.cpu);
        }
        match (role, &event.kind) {
            (Role::Call { what, expect, measured }, EventKind::Syscall { name, errno, duration_ns, .. }) => {
                let outcome = errno.map(Outcome::Errno).unwrap_or(Outcome::Ok);
                if !expect.contains(&outcome) {
                    let wanted = expect.iter().map(|o| outcome_name(*o)).collect::<Vec<_>>().join(" or ");
                    self.miss(what, format!("{name} returned {}", outcome_name(outcome)), wanted);
                }
                if *measured {
                    self.measure_call(what, name, outcome, event.t_ns, *duration_ns);
                }
            }
            (Role::Check { what, check }, EventKind::FileRead { content, errno, .. }) => {
                if let Some(problem) = check_content(check, content.as_deref(), *errno) {
                    self.miss(what, problem, check_wanted(check));
                }
            }
            (Role::Absent { what, modules }, EventKind::FileRead { content, .. }) => {
                let text = content.as_deref().unwrap_or("");
                for module in modules {
                    if text.lines().any(|l| l.split_whitespace().next() == Some(module)) {
                        self.eval.broken.push(format!("{what}: module {module} is still loaded"));
                    }
                }
            }
            (Role::Shell { what, status: Some(want) }, EventKind::ShellDone { status, output, .. })
                if status != want =>
            {
                let tail: String = output.lines().last().unwrap_or("").chars().take(120).collect();
                self.miss(what, format!("exit status {status} ({tail})"), format!("status {want}"));
            }
            (Role::Window { what, unload }, EventKind::FileRead { content, errno, .. }) => {
                self.window(what, *unload, content.as_deref(), *errno);
            }
            (Role::HammerStats { what }, EventKind::FileRead { content: Some(text), .. }) => {
                self.hammer_stats(what, text);
            }
            (_, EventKind::Opened { path, errno: Some(e), .. }) => {
                self.eval.broken.push(format!("step {index}: cannot open {path}: {}", errno::name(*e)));
            }
            (_, EventKind::Closed { handle, errno: Some(e) }) => {
                self.eval.broken.push(format!("step {index}: cannot close {handle}: {}", errno::name(*e)));
            }
            (Role::Call { what, .. }, other) => {
                self.eval.broken.push(format!("{what}: the agent reported {other:?} instead of a syscall"));
            }
            _ => {}
        }
    }

    /// A measured module load or unload: its latency, its outcome's count
    /// and the time span of the measured calls.
    fn measure_call(&mut self, what: &str, syscall: &str, outcome: Outcome, t_ns: u64, duration_ns: u64) {
        let metrics = &mut self.eval.metrics;
        *metrics.outcomes.entry(format!("{what} = {}", outcome_name(outcome))).or_default() += 1;
        match syscall {
            "delete_module" => {
                metrics.unload_latency_ns.push(duration_ns);
                if outcome == Outcome::Ok {
                    self.unloads_ok += 1;
                }
            }
            "finit_module" => {
                metrics.load_latency_ns.push(duration_ns);
                if outcome == Outcome::Ok {
                    self.loads_ok += 1;
                }
            }
            _ => {}
        }
        self.first_t = self.first_t.min(t_ns);
        self.last_t = self.last_t.max(t_ns + duration_ns);
    }

    /// The sampler's window after the unload at index `unload`: the
    /// stall the other CPUs saw (not the unloading CPU, not a hogged one).
    fn window(&mut self, what: &str, unload: usize, content: Option<&str>, read_errno: Option<i32>) {
        let Some(text) = content else {
            self.eval
                .broken
                .push(format!("{what}: cannot read the window: {}", read_errno.map(errno::name).unwrap_or_default()));
            return;
        };
        let windows = parse_records(text);
        let unload_cpu = self.unload_cpus.get(&unload).copied().flatten();
        let hogged_cpus = &self.compiled.hogged_cpus;
        let other = |key: &str| -> Option<u64> {
            windows
                .iter()
                .filter(|w| {
                    let cpu = w.get("cpu").and_then(|c| c.parse::<u32>().ok());
                    cpu != unload_cpu && !cpu.is_some_and(|c| hogged_cpus.contains(&c))
                })
                .filter_map(|w| w.get(key).and_then(|v| v.parse::<u64>().ok()))
                .min()
        };
        if windows.is_empty() {
            self.eval.broken.push(format!("{what}: the sampler's window is empty (is the sampler running?)"));
        }
        // No sample when every sampled CPU is the unloading or a
        // hogged one (e.g. the hog scenario on 2 vCPUs).
        if let Some(ns) = other("max_late_ns") {
            self.eval.metrics.stall_other_cpus_ns.push(ns);
        }
        let thread_samples = windows.iter().any(|w| w.get("thread_samples").is_some_and(|v| *v != "0"));
        if thread_samples {
            if let Some(ns) = other("thread_max_late_ns") {
                self.eval.metrics.stall_other_cpus_thread_ns.push(ns);
            }
        }
    }

    /// The refcount hammer's per-CPU stats: throughput, and anomalies as
    /// broken expectations.
    fn hammer_stats(&mut self, what: &str, text: &str) {
        for record in parse_records(text) {
            let field = |k: &str| record.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            self.eval.metrics.refcount_ops_per_sec.push((field("cpu") as u32, field("ops_per_sec")));
            if field("anomalies") > 0 {
                self.eval.broken.push(format!(
                    "{what}: CPU {} saw {} refcount anomalies (get while GOING: {}, put at zero: {})",
                    field("cpu"),
                    field("anomalies"),
                    field("anom_get_going"),
                    field("anom_put_zero")
                ));
            }
        }
    }

    /// The misses, aggregated per step and result, and the cycle rate.
    fn finish(mut self) -> Evaluation {
        for ((what, got, wanted), times) in self.misses {
            let runs = self
                .compiled
                .roles
                .iter()
                .position(|r| role_what(r) == what)
                .and_then(|i| self.ran.get(&i))
                .copied()
                .unwrap_or(times);
            let count = if runs > 1 { format!(" ({times} of {runs} times)") } else { String::new() };
            self.eval.broken.push(format!("{what}: expected {wanted}, got {got}{count}"));
        }
        let pairs = self.loads_ok.min(self.unloads_ok);
        if pairs > 0 && self.last_t > self.first_t {
            self.eval.metrics.cycles_per_sec = Some(pairs as f64 / ((self.last_t - self.first_t) as f64 / 1e9));
        }
        self.eval
    }
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
