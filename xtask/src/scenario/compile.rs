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
use serde::Serialize;

use super::{Final, LoopBound, Outcome, ReadCheck, Scenario, Step};
use crate::errno;

/// What a program step is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A module load or unload and the outcomes the scenario accepts.
    Call { what: String, expect: Vec<Outcome> },
    /// A file read whose content is checked.
    Check { what: String, check: ReadCheck },
    /// A file read for the final `absent:` expectation.
    Absent { what: String, modules: Vec<String> },
    /// A shell command, maybe with an expected exit status.
    Shell { what: String, status: Option<i32> },
    /// Anything else (sleep, write, open, close, loop, parallel): it only has
    /// to run.
    Plain { what: String },
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    /// By pre-order step index.
    pub roles: Vec<Role>,
}

/// A scenario step this version of the rig cannot run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

pub fn compile(scenario: &Scenario) -> Result<Compiled, Unsupported> {
    let mut roles = Vec::new();
    let mut steps = compile_steps(&scenario.steps, "steps", &mut roles)?;
    steps.extend(final_steps(&scenario.expect, &mut roles));
    Ok(Compiled { program: Program { steps }, roles })
}

fn compile_steps(steps: &[Step], path: &str, roles: &mut Vec<Role>) -> Result<Vec<AgentStep>, Unsupported> {
    steps.iter().enumerate().map(|(i, step)| compile_step(step, &format!("{path}[{i}]"), roles)).collect()
}

fn compile_step(step: &Step, path: &str, roles: &mut Vec<Role>) -> Result<AgentStep, Unsupported> {
    // Pre-order: this step's role first, then its children's.
    let index = roles.len();
    roles.push(Role::Plain { what: path.to_string() });
    let what = |verb: &str, arg: &str| format!("{path} ({verb} {arg})");
    let compiled = match step {
        Step::Load { module, params, expect } => {
            roles[index] = Role::Call { what: what("load", module), expect: expect.clone() };
            AgentStep::Load { path: format!("/modules/{module}.ko"), params: params.clone() }
        }
        Step::Unload { module, force, nonblock, expect, window } => {
            if *window {
                return Err(Unsupported(format!(
                    "{path}: `window: true` needs the stall sampler, which the rig cannot drive yet"
                )));
            }
            roles[index] = Role::Call { what: what("unload", module), expect: expect.clone() };
            AgentStep::Unload { name: module.clone(), flags: UnloadFlags { force: *force, nonblock: *nonblock } }
        }
        Step::Loop { bound, until_ok, steps } => {
            let (count, duration_ms) = match bound {
                LoopBound::Count(n) => (Some(u64::from(*n)), None),
                LoopBound::Duration(d) => (None, Some(d.as_millis() as u64)),
            };
            let steps = compile_steps(steps, &format!("{path}.loop.steps"), roles)?;
            AgentStep::Loop { count, duration_ms, until_ok: *until_ok, steps }
        }
        Step::Parallel { branches } => {
            let mut out = Vec::new();
            for (b, branch) in branches.iter().enumerate() {
                let steps = compile_steps(&branch.steps, &format!("{path}.parallel[{b}].steps"), roles)?;
                out.push(Branch { cpu: branch.cpu, steps });
            }
            AgentStep::Parallel { branches: out }
        }
        Step::Sleep(d) => AgentStep::Sleep { ms: d.as_millis() as u64 },
        Step::Hammer(_) | Step::Sampler(_) | Step::Hog(_) => {
            return Err(Unsupported(format!("{path}: hammer, sampler and hog steps cannot run yet")));
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
    Ok(compiled)
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

/// What a scenario's run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// `delete_module` durations, ns, in event order.
    pub unload_latency_ns: Vec<u64>,
    /// `finit_module` durations, ns, in event order.
    pub load_latency_ns: Vec<u64>,
    /// `"<step> = <outcome>"` -> count.
    pub outcomes: BTreeMap<String, u64>,
    /// Successful load+unload pairs per second of the run's span, when any.
    pub cycles_per_sec: Option<f64>,
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
        match (role, &event.kind) {
            (Role::Call { what, expect }, EventKind::Syscall { name, errno: result_errno, duration_ns, .. }) => {
                let outcome = result_errno.map(Outcome::Errno).unwrap_or(Outcome::Ok);
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
                if !expect.contains(&outcome) {
                    let wanted = expect.iter().map(|o| outcome_name(*o)).collect::<Vec<_>>().join(" or ");
                    *misses
                        .entry((what.clone(), format!("{name} returned {}", outcome_name(outcome)), wanted))
                        .or_default() += 1;
                }
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
        | Role::Plain { what } => what,
    }
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
mod tests {
    use super::*;
    use crate::scenario::{Branch as ScenarioBranch, Final};
    use std::time::Duration;

    fn scenario(steps: Vec<Step>, expect: Final) -> Scenario {
        Scenario {
            name: "t".into(),
            description: "d".into(),
            vcpus: 2,
            deadline: Duration::from_secs(10),
            cmdline: vec![],
            modules: vec!["victim_trivial".into()],
            steps,
            expect,
            metrics: vec![],
        }
    }

    fn event(step: usize, iteration: Option<u64>, kind: EventKind) -> Event {
        Event { t_ns: 1_000_000_000 + step as u64 * 1000, step: Some(step), cpu: Some(0), iteration, kind }
    }

    fn syscall(name: &str, errno: Option<i32>, ns: u64) -> EventKind {
        EventKind::Syscall {
            name: name.into(),
            target: "m".into(),
            ret: if errno.is_some() { -1 } else { 0 },
            errno,
            duration_ns: ns,
        }
    }

    #[test]
    fn steps_and_final_expectations_compile_in_pre_order() {
        let s = scenario(
            vec![
                Step::Load { module: "victim_trivial".into(), params: "".into(), expect: vec![Outcome::Ok] },
                Step::Loop {
                    bound: LoopBound::Count(3),
                    until_ok: false,
                    steps: vec![Step::Unload {
                        module: "victim_trivial".into(),
                        force: false,
                        nonblock: true,
                        expect: vec![Outcome::Ok, Outcome::Errno(2)],
                        window: false,
                    }],
                },
                Step::Parallel {
                    branches: vec![
                        ScenarioBranch { cpu: Some(1), steps: vec![Step::Sleep(Duration::from_millis(5))] },
                        ScenarioBranch {
                            cpu: None,
                            steps: vec![Step::Shell { command: "true".into(), status: Some(0) }],
                        },
                    ],
                },
            ],
            Final {
                allow: vec![],
                refcount: [("victim_trivial".to_string(), 0)].into(),
                absent: vec!["victim_trivial".into()],
            },
        );
        let c = compile(&s).unwrap();
        assert_eq!(modrig_proto::count_steps(&c.program.steps), c.roles.len());
        let whats: Vec<&str> = c.roles.iter().map(role_what).collect();
        assert_eq!(
            whats,
            [
                "steps[0] (load victim_trivial)",
                "steps[1]",
                "steps[1].loop.steps[0] (unload victim_trivial)",
                "steps[2]",
                "steps[2].parallel[0].steps[0]",
                "steps[2].parallel[1].steps[0] (shell true)",
                "expect.refcount.victim_trivial",
                "expect.absent",
            ]
        );
        assert!(matches!(c.program.steps[1], AgentStep::Loop { count: Some(3), until_ok: false, .. }));
        assert_eq!(c.program.steps.len(), 5);
    }

    #[test]
    fn unsupported_steps_are_named() {
        let s = scenario(
            vec![Step::Unload {
                module: "m".into(),
                force: false,
                nonblock: false,
                expect: vec![Outcome::Ok],
                window: true,
            }],
            Final::default(),
        );
        assert_eq!(
            compile(&s).unwrap_err(),
            Unsupported("steps[0]: `window: true` needs the stall sampler, which the rig cannot drive yet".into())
        );
    }

    #[test]
    fn evaluation_aggregates_misses_and_measures() {
        let s = scenario(
            vec![
                Step::Load { module: "victim_trivial".into(), params: "".into(), expect: vec![Outcome::Ok] },
                Step::Loop {
                    bound: LoopBound::Count(3),
                    until_ok: false,
                    steps: vec![Step::Unload {
                        module: "victim_trivial".into(),
                        force: false,
                        nonblock: false,
                        expect: vec![Outcome::Errno(11)],
                        window: false,
                    }],
                },
            ],
            Final {
                allow: vec![],
                refcount: [("victim_trivial".to_string(), 0)].into(),
                absent: vec!["victim_trivial".into()],
            },
        );
        let c = compile(&s).unwrap();
        let events = vec![
            event(0, None, syscall("finit_module", None, 5_000_000)),
            event(2, Some(0), syscall("delete_module", Some(11), 1000)),
            event(2, Some(1), syscall("delete_module", None, 16_000_000)),
            event(2, Some(2), syscall("delete_module", Some(2), 2000)),
            event(1, None, EventKind::LoopDone { iterations: 3 }),
            event(3, None, EventKind::FileRead { path: "p".into(), content: None, errno: Some(2) }),
            event(
                4,
                None,
                EventKind::FileRead {
                    path: "/proc/modules".into(),
                    content: Some("other 1 0 - Live\n".into()),
                    errno: None,
                },
            ),
        ];
        let eval = evaluate(&c, &events);
        assert_eq!(
            eval.broken,
            [
                "expect.refcount.victim_trivial: expected \"0\\n\", got the read failed with ENOENT",
                "steps[1].loop.steps[0] (unload victim_trivial): expected EWOULDBLOCK, got delete_module returned ENOENT (1 of 3 times)",
                "steps[1].loop.steps[0] (unload victim_trivial): expected EWOULDBLOCK, got delete_module returned ok (1 of 3 times)",
            ]
        );
        assert_eq!(eval.metrics.unload_latency_ns, [1000, 16_000_000, 2000]);
        assert_eq!(eval.metrics.load_latency_ns, [5_000_000]);
        assert_eq!(eval.metrics.outcomes.get("steps[1].loop.steps[0] (unload victim_trivial) = EWOULDBLOCK"), Some(&1));
        assert!(eval.metrics.cycles_per_sec.unwrap() > 0.0);
    }

    #[test]
    fn file_checks() {
        let check = ReadCheck {
            equals: None,
            contains: Some("Live".into()),
            lines: Some(regex::Regex::new(r"^\S+ \d+").unwrap()),
        };
        assert_eq!(check_content(&check, Some("a 1 Live\nb 2\n"), None), None);
        assert_eq!(check_content(&check, Some("a 1 Live\nbad\n"), None), Some("the line \"bad\"".into()));
        assert_eq!(check_content(&check, Some("a 1\n"), None), Some("content without \"Live\"".into()));
        assert_eq!(check_content(&check, None, Some(13)), Some("the read failed with EACCES".into()));
    }
}
