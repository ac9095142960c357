//! Built-in step programs for `cargo xtask run`, with what each step is
//! expected to return. (YAML scenarios replace these when the scenario
//! language lands; the fixtures stay for the rig's own tests.)

use modrig_proto::{Branch, Event, EventKind, Program, Step, UnloadFlags};

use crate::classify::EventClass;
use crate::errno;

/// What a step must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The syscall succeeded.
    Ok,
    /// The syscall failed with this errno.
    Errno(i32),
    /// The file read back exactly this.
    Content(String),
    /// The file read back does not contain this.
    NotContaining(String),
}

#[derive(Debug, Clone)]
pub struct Builtin {
    pub name: &'static str,
    pub description: &'static str,
    pub program: Program,
    /// `(step index, expectation)`.
    pub expectations: Vec<(usize, Expect)>,
    /// Kernel-log event classes that do not fail the run.
    pub allowed: Vec<EventClass>,
}

pub const NAMES: [&str; 5] = ["load-unload", "boot", "fixture-panic-in-init", "fixture-hang-in-exit", "fixture-warn"];

fn load(module: &str) -> Step {
    Step::Load { path: format!("/modules/{module}.ko"), params: String::new() }
}

fn read_refcnt(module: &str) -> Step {
    Step::ReadFile { path: format!("/sys/module/{module}/refcnt") }
}

fn unload(module: &str) -> Step {
    Step::Unload { name: module.to_string(), flags: UnloadFlags::default() }
}

pub fn builtin(name: &str) -> Option<Builtin> {
    let (description, steps, expectations): (&str, Vec<Step>, Vec<(usize, Expect)>) = match name {
        "load-unload" => (
            "load victim_trivial, read its refcount from two threads pinned to CPUs 0 and 1 (expect 0), \
             unload it, check it is gone from /proc/modules",
            vec![
                load("victim_trivial"),
                Step::Parallel {
                    branches: vec![
                        Branch { cpu: Some(0), steps: vec![read_refcnt("victim_trivial")] },
                        Branch { cpu: Some(1), steps: vec![read_refcnt("victim_trivial")] },
                    ],
                },
                unload("victim_trivial"),
                Step::ReadFile { path: "/proc/modules".into() },
            ],
            vec![
                (0, Expect::Ok),
                (2, Expect::Content("0\n".into())),
                (3, Expect::Content("0\n".into())),
                (4, Expect::Ok),
                (5, Expect::NotContaining("victim_trivial ".into())),
            ],
        ),
        "boot" => ("boot to the agent and power off (no steps)", vec![], vec![]),
        "fixture-panic-in-init" => {
            ("load fixture_panic, whose init panics: expect PANIC", vec![load("fixture_panic")], vec![])
        }
        "fixture-hang-in-exit" => (
            "load fixture_hang_exit and unload it; its exit never returns: expect HANG",
            vec![load("fixture_hang_exit"), unload("fixture_hang_exit")],
            vec![(0, Expect::Ok), (1, Expect::Ok)],
        ),
        "fixture-warn" => (
            "load fixture_warn, whose init WARNs, and unload it: expect FAIL naming the WARNING",
            vec![load("fixture_warn"), unload("fixture_warn")],
            vec![(0, Expect::Ok), (1, Expect::Ok)],
        ),
        _ => return None,
    };
    let name = NAMES.iter().find(|n| **n == name)?;
    Some(Builtin { name, description, program: Program { steps }, expectations, allowed: vec![] })
}

/// The expectations that the agent's events contradict, in words. A step
/// without a result (the run ended first) breaks nothing here: the verdict
/// reports the hang or panic that ended it.
pub fn broken_expectations(builtin: &Builtin, events: &[Event]) -> Vec<String> {
    let mut broken: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentError { message } => Some(match e.step {
                Some(step) => format!("step {step}: agent error: {message}"),
                None => format!("agent error: {message}"),
            }),
            _ => None,
        })
        .collect();
    for (step, expect) in &builtin.expectations {
        let Some(result) = events.iter().find(|e| e.step == Some(*step)) else { continue };
        let what = modrig_proto::describe_step(modrig_proto::step_at(&builtin.program.steps, *step));
        let got = match (&result.kind, expect) {
            (EventKind::Syscall { errno: None, .. }, Expect::Ok) => None,
            (EventKind::Syscall { errno: Some(e), .. }, Expect::Errno(want)) if e == want => None,
            (EventKind::Syscall { name, errno, .. }, _) => {
                Some(format!("{name} returned {}", errno.map(errno::name).unwrap_or_else(|| "ok".into())))
            }
            (EventKind::FileRead { content: Some(c), .. }, Expect::Content(want)) if c == want => None,
            (EventKind::FileRead { content: Some(c), .. }, Expect::NotContaining(unwanted))
                if !c.contains(unwanted.as_str()) =>
            {
                None
            }
            (EventKind::FileRead { content: Some(c), .. }, _) => Some(format!("read {c:?}")),
            (EventKind::FileRead { errno: Some(e), .. }, _) => Some(format!("read failed with {}", errno::name(*e))),
            (other, _) => Some(format!("{other:?}")),
        };
        if let Some(got) = got {
            let want = match expect {
                Expect::Ok => "ok".to_string(),
                Expect::Errno(e) => errno::name(*e),
                Expect::Content(c) => format!("{c:?}"),
                Expect::NotContaining(c) => format!("no {c:?}"),
            };
            broken.push(format!("step {step} ({what}): expected {want}, got {got}"));
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(step: usize, kind: EventKind) -> Event {
        Event { t_ns: 1, step: Some(step), cpu: None, iteration: None, kind }
    }

    fn syscall(errno: Option<i32>) -> EventKind {
        EventKind::Syscall {
            name: "delete_module".into(),
            target: "m".into(),
            ret: if errno.is_some() { -1 } else { 0 },
            errno,
            duration_ns: 5,
        }
    }

    #[test]
    fn every_name_is_a_builtin() {
        for name in NAMES {
            assert_eq!(builtin(name).unwrap().name, name);
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn expectations_are_checked_against_events() {
        let b = builtin("load-unload").unwrap();
        let refcnt =
            |step| event(step, EventKind::FileRead { path: "r".into(), content: Some("0\n".into()), errno: None });
        let good = vec![
            event(
                0,
                EventKind::Syscall {
                    name: "finit_module".into(),
                    target: "x".into(),
                    ret: 0,
                    errno: None,
                    duration_ns: 1,
                },
            ),
            refcnt(3),
            refcnt(2),
            event(1, EventKind::ParallelDone { branches: 2 }),
            event(4, syscall(None)),
            event(
                5,
                EventKind::FileRead {
                    path: "/proc/modules".into(),
                    content: Some("other 1 0 - Live\n".into()),
                    errno: None,
                },
            ),
        ];
        assert!(broken_expectations(&b, &good).is_empty());
        let mut bad = good.clone();
        bad[4] = event(4, syscall(Some(11)));
        bad[5] = event(
            5,
            EventKind::FileRead { path: "p".into(), content: Some("victim_trivial 1 0\n".into()), errno: None },
        );
        bad.push(event(1, EventKind::AgentError { message: "cannot pin a branch to CPU 1: errno 22".into() }));
        assert_eq!(
            broken_expectations(&b, &bad),
            [
                "step 1: agent error: cannot pin a branch to CPU 1: errno 22",
                "step 4 (unload victim_trivial): expected ok, got delete_module returned EWOULDBLOCK",
                "step 5 (read /proc/modules): expected no \"victim_trivial \", got read \"victim_trivial 1 0\\n\"",
            ]
        );
        // Steps that never reported break nothing (the run's end says why).
        assert!(broken_expectations(&b, &good[..1]).is_empty());
    }
}
