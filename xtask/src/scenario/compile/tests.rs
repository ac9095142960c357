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
        kernel_modules: vec![],
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
            Step::Load {
                module: "victim_trivial".into(),
                params: "".into(),
                expect: vec![Outcome::Ok],
                in_tree: false,
            },
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
                    ScenarioBranch { cpu: None, steps: vec![Step::Shell { command: "true".into(), status: Some(0) }] },
                ],
            },
        ],
        Final {
            allow: vec![],
            refcount: [("victim_trivial".to_string(), 0)].into(),
            absent: vec!["victim_trivial".into()],
        },
    );
    let c = compile(&s);
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
fn a_windowed_unload_measures_the_other_cpus() {
    let s = scenario(
        vec![Step::Loop {
            bound: LoopBound::Count(2),
            until_ok: false,
            steps: vec![Step::Unload {
                module: "m".into(),
                force: false,
                nonblock: false,
                expect: vec![Outcome::Errno(11)],
                window: true,
            }],
        }],
        Final::default(),
    );
    let c = compile(&s);
    assert_eq!(modrig_proto::count_steps(&c.program.steps), c.roles.len());
    // loop, one-iteration group, open, unload, close, settle, read
    assert_eq!(c.roles.len(), 7);
    assert!(matches!(c.roles[6], Role::Window { unload: 3, .. }));
    let window = |cpu0: u64, cpu1: u64| {
        EventKind::FileRead {
            path: "w".into(),
            content: Some(format!(
                "cpu=0 max_late_ns={cpu0} samples=9 thread_samples=0\ncpu=1 max_late_ns={cpu1} samples=9 thread_samples=0\n"
            )),
            errno: None,
        }
    };
    let unload_on = |cpu: u32| {
        let mut e = event(3, Some(0), syscall("delete_module", Some(11), 100));
        e.cpu = Some(cpu);
        e
    };
    let events = vec![
        unload_on(0),
        event(6, Some(0), window(7_000_000, 300_000)),
        unload_on(1),
        event(6, Some(0), window(200_000, 9_000_000)),
    ];
    let eval = evaluate(&c, &events);
    assert!(eval.broken.is_empty(), "{:?}", eval.broken);
    // The unloading CPU's own lateness is left out of each window.
    assert_eq!(eval.metrics.stall_other_cpus_ns, [300_000, 200_000]);
    assert!(eval.metrics.stall_other_cpus_thread_ns.is_empty());
}

#[test]
fn hammer_stats_give_ops_and_flag_anomalies() {
    let s = scenario(vec![Step::Hammer(HammerAction::Stop)], Final::default());
    let c = compile(&s);
    assert!(matches!(c.roles[1], Role::HammerStats { .. }));
    let stats = "cpu=0 ops=10 gets_ok=10 gets_failed=0 anomalies=0 anom_get_going=0 anom_put_zero=0 ns=1 absent_ns=0 ops_per_sec=5000 done=1\n\
                 cpu=1 ops=10 gets_ok=9 gets_failed=1 anomalies=2 anom_get_going=2 anom_put_zero=0 ns=1 absent_ns=0 ops_per_sec=4000 done=1\n";
    let events = vec![
        event(1, Some(0), EventKind::FileRead { path: "s".into(), content: Some(stats.into()), errno: None }),
        event(2, Some(0), syscall("delete_module", None, 10)),
    ];
    let eval = evaluate(&c, &events);
    assert_eq!(eval.metrics.refcount_ops_per_sec, [(0, 5000), (1, 4000)]);
    assert_eq!(
        eval.broken,
        ["steps[0] (read the hammer's stats): CPU 1 saw 2 refcount anomalies (get while GOING: 2, put at zero: 0)"]
    );
}

#[test]
fn evaluation_aggregates_misses_and_measures() {
    let s = scenario(
        vec![
            Step::Load {
                module: "victim_trivial".into(),
                params: "".into(),
                expect: vec![Outcome::Ok],
                in_tree: false,
            },
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
    let c = compile(&s);
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
    let check =
        ReadCheck { equals: None, contains: Some("Live".into()), lines: Some(regex::Regex::new(r"^\S+ \d+").unwrap()) };
    assert_eq!(check_content(&check, Some("a 1 Live\nb 2\n"), None), None);
    assert_eq!(check_content(&check, Some("a 1 Live\nbad\n"), None), Some("the line \"bad\"".into()));
    assert_eq!(check_content(&check, Some("a 1\n"), None), Some("content without \"Live\"".into()));
    assert_eq!(check_content(&check, None, Some(13)), Some("the read failed with EACCES".into()));
}
