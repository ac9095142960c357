//! The wire format between the host (`xtask`) and the in-guest agent.
//!
//! Both sides speak JSON lines over a virtio-serial port named
//! [`PORT_NAME`]: the agent announces itself with [`EventKind::Ready`], the
//! host sends a [`Program`] line, the agent runs its steps in order and
//! streams one [`Event`] per line, ending with [`EventKind::Done`]. The host
//! may then send another program (one boot serves several scenarios), and
//! ends the conversation with an [`END_OF_PROGRAMS`] line (or by hanging
//! up), after which the agent exits and the guest powers off. The host
//! compiles scenarios into programs; the agent never sees YAML. Errnos travel
//! as numbers: naming them is the host's job.

pub mod modules_dep;

use serde::{Deserialize, Serialize};

/// The virtio-serial port name (`-device virtserialport,name=...`).
pub const PORT_NAME: &str = "modrig";

/// The line the host sends instead of a program when it has no more.
pub const END_OF_PROGRAMS: &str = "end";

/// Printed on the serial console by the guest's init once userspace runs,
/// before the agent starts; the host's boot timer stops here.
pub const BOOT_MARKER: &str = "MODRIG-INIT-READY";

/// What the host asks the agent to do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// `finit_module(open(path), params, 0)`.
    Load {
        path: String,
        #[serde(default)]
        params: String,
    },
    /// The kernel's own module `name`, like `modprobe`: its dependencies
    /// from `/lib/modules/$(uname -r)/modules.dep` first (each one already
    /// loaded is fine), then `finit_module` of the module itself with
    /// `params`. The event is that last call, or the first dependency that
    /// failed.
    LoadInTree {
        name: String,
        #[serde(default)]
        params: String,
    },
    /// `delete_module(name, flags)`.
    Unload { name: String, flags: UnloadFlags },
    /// Sleep on the agent's side (CLOCK_MONOTONIC).
    Sleep { ms: u64 },
    /// Read a whole file (at most [`READ_LIMIT`] bytes are returned).
    ReadFile { path: String },
    /// Write `content` to a file (e.g. a sysfs or debugfs knob).
    WriteFile { path: String, content: String },
    /// `/bin/sh -c command`: the escape hatch.
    Shell { command: String },
    /// Runs the branches at the same time, each on a thread of its own,
    /// pinned to `cpu` when given; ends when every branch has. Steps inside
    /// are numbered in pre-order after this one (see [`step_at`]).
    Parallel { branches: Vec<Branch> },
    /// Repeats `steps` `count` times, or until `duration_ms` has passed
    /// (exactly one of the two); with `until_ok`, stops after an iteration
    /// whose last unload succeeded. Events of the steps inside carry their
    /// iteration number.
    Loop {
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        duration_ms: Option<u64>,
        #[serde(default)]
        until_ok: bool,
        steps: Vec<Step>,
    },
    /// Opens `path` read-only and keeps it open as `handle` (an open file of
    /// a module's fops holds a reference to the module).
    Open { path: String, handle: String },
    /// Closes a file opened with [`Step::Open`].
    Close { handle: String },
}

/// One thread of a [`Step::Parallel`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// The CPU to pin the thread to (`sched_setaffinity`), if any.
    #[serde(default)]
    pub cpu: Option<u32>,
    pub steps: Vec<Step>,
}

/// How many step indices `steps` use: each step one, plus its branches'.
pub fn count_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|step| match step {
            Step::Parallel { branches } => 1 + branches.iter().map(|b| count_steps(&b.steps)).sum::<usize>(),
            Step::Loop { steps, .. } => 1 + count_steps(steps),
            _ => 1,
        })
        .sum()
}

/// A step in a few words, for deadline messages and summaries (`None`:
/// past the last step).
pub fn describe_step(step: Option<&Step>) -> String {
    match step {
        None => "after the last step".to_string(),
        Some(Step::Load { path, .. }) => format!("load {path}"),
        Some(Step::LoadInTree { name, .. }) => format!("load the kernel's {name}"),
        Some(Step::Unload { name, .. }) => format!("unload {name}"),
        Some(Step::Sleep { ms }) => format!("sleep {ms} ms"),
        Some(Step::ReadFile { path }) => format!("read {path}"),
        Some(Step::WriteFile { path, .. }) => format!("write {path}"),
        Some(Step::Shell { command }) => format!("shell `{command}`"),
        Some(Step::Parallel { branches }) => format!("{} parallel branches", branches.len()),
        Some(Step::Loop { count: Some(n), .. }) => format!("loop of {n}"),
        Some(Step::Loop { duration_ms, .. }) => format!("loop for {} ms", duration_ms.unwrap_or(0)),
        Some(Step::Open { path, .. }) => format!("open {path}"),
        Some(Step::Close { handle }) => format!("close {handle}"),
    }
}

/// The step with pre-order index `index` (the numbering of [`Event::step`]).
pub fn step_at(steps: &[Step], mut index: usize) -> Option<&Step> {
    for step in steps {
        if index == 0 {
            return Some(step);
        }
        index -= 1;
        let children: Vec<&[Step]> = match step {
            Step::Parallel { branches } => branches.iter().map(|b| b.steps.as_slice()).collect(),
            Step::Loop { steps, .. } => vec![steps.as_slice()],
            _ => vec![],
        };
        for steps in children {
            let size = count_steps(steps);
            if index < size {
                return step_at(steps, index);
            }
            index -= size;
        }
    }
    None
}

/// The most bytes a [`Step::ReadFile`] or [`Step::Shell`] returns.
pub const READ_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadFlags {
    /// `O_TRUNC`: forced unload (needs CONFIG_MODULE_FORCE_UNLOAD, taints).
    #[serde(default)]
    pub force: bool,
    /// `O_NONBLOCK`: ignored by the kernel since v3.13, kept to prove it.
    #[serde(default)]
    pub nonblock: bool,
}

/// One line from the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// CLOCK_MONOTONIC in ns: the same clock as the kernel's `ktime_get_ns`.
    pub t_ns: u64,
    /// Pre-order index of the step this event belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The CPU the step started on (`sched_getcpu`), if it is a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// The iteration of the innermost loop around the step, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The agent is up and listening for a program.
    Ready {
        kernel_release: String,
        cpus: u32,
    },
    /// A module syscall returned. `ret` is the raw return value; `errno` is
    /// set when it failed.
    Syscall {
        /// `finit_module`, `delete_module`, or `open` (a module file that
        /// could not be opened).
        name: String,
        /// The module file (load) or module name (unload).
        target: String,
        ret: i64,
        errno: Option<i32>,
        duration_ns: u64,
    },
    FileRead {
        path: String,
        content: Option<String>,
        errno: Option<i32>,
    },
    FileWritten {
        path: String,
        errno: Option<i32>,
    },
    ShellDone {
        command: String,
        status: i32,
        output: String,
    },
    Slept {
        ms: u64,
    },
    /// Every branch of a [`Step::Parallel`] has finished.
    ParallelDone {
        branches: usize,
    },
    /// A [`Step::Loop`] ended after this many iterations.
    LoopDone {
        iterations: u64,
    },
    Opened {
        path: String,
        handle: String,
        errno: Option<i32>,
    },
    Closed {
        handle: String,
        errno: Option<i32>,
    },
    /// The agent could not run a step at all (not a kernel error).
    AgentError {
        message: String,
    },
    /// Every step ran; nothing more will come.
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_wire_format_is_stable() {
        let program = Program {
            steps: vec![
                Step::Load { path: "/modules/victim_trivial.ko".into(), params: "".into() },
                Step::Unload { name: "victim_trivial".into(), flags: UnloadFlags { force: true, nonblock: false } },
            ],
        };
        let json = serde_json::to_string(&program).unwrap();
        assert_eq!(
            json,
            r#"{"steps":[{"op":"load","path":"/modules/victim_trivial.ko","params":""},{"op":"unload","name":"victim_trivial","flags":{"force":true,"nonblock":false}}]}"#
        );
        assert_eq!(serde_json::from_str::<Program>(&json).unwrap(), program);
    }

    #[test]
    fn parallel_steps_are_numbered_in_pre_order() {
        let sleep = |ms| Step::Sleep { ms };
        let steps = vec![
            sleep(0),
            Step::Parallel {
                branches: vec![
                    Branch { cpu: Some(0), steps: vec![sleep(1), sleep(2)] },
                    Branch { cpu: None, steps: vec![sleep(3)] },
                ],
            },
            sleep(4),
        ];
        assert_eq!(count_steps(&steps), 6);
        let order: Vec<Option<&Step>> = (0..7).map(|i| step_at(&steps, i)).collect();
        assert_eq!(order[0], Some(&sleep(0)));
        assert!(matches!(order[1], Some(Step::Parallel { .. })));
        assert_eq!(order[2..6], [Some(&sleep(1)), Some(&sleep(2)), Some(&sleep(3)), Some(&sleep(4))]);
        assert_eq!(order[6], None);
        let looped = vec![
            Step::Loop { count: Some(3), duration_ms: None, until_ok: false, steps: vec![sleep(5), sleep(6)] },
            sleep(7),
        ];
        assert_eq!(count_steps(&looped), 4);
        assert_eq!(step_at(&looped, 2), Some(&sleep(6)));
        assert_eq!(step_at(&looped, 3), Some(&sleep(7)));
    }

    #[test]
    fn event_wire_format_is_flat() {
        let event = Event {
            t_ns: 5,
            step: Some(1),
            cpu: Some(0),
            iteration: None,
            kind: EventKind::Syscall {
                name: "delete_module".into(),
                target: "m".into(),
                ret: -1,
                errno: Some(11),
                duration_ns: 7,
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"t_ns":5,"step":1,"cpu":0,"event":"syscall","name":"delete_module","target":"m","ret":-1,"errno":11,"duration_ns":7}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        let done: Event = serde_json::from_str(r#"{"t_ns":9,"event":"done"}"#).unwrap();
        assert_eq!(done.kind, EventKind::Done);
    }
}
