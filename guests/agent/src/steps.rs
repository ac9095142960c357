//! Running one step of a program and describing what happened as an event.
//!
//! Every outcome is an event: a kernel error is data for the host (an
//! errno), and only a step the agent could not even attempt becomes an
//! [`EventKind::AgentError`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use modrig_proto::{modules_dep, EventKind, Step, UnloadFlags, READ_LIMIT};

use crate::sys;

/// An event's kind and its timestamp: when the syscall started for module
/// operations, so the host can match it against kernel timestamps, and
/// when the step finished otherwise.
pub struct Outcome {
    pub t_ns: u64,
    pub kind: EventKind,
}

impl Outcome {
    fn now(kind: EventKind) -> Outcome {
        Outcome { t_ns: sys::monotonic_ns(), kind }
    }

    fn error(message: String) -> Outcome {
        Outcome::now(EventKind::AgentError { message })
    }
}

pub fn run(step: &Step) -> Outcome {
    match step {
        Step::Load { path, params } => load(path, params),
        Step::LoadInTree { name, params } => load_in_tree(name, params),
        Step::Unload { name, flags } => unload(name, *flags),
        Step::Sleep { ms } => {
            thread::sleep(Duration::from_millis(*ms));
            Outcome::now(EventKind::Slept { ms: *ms })
        }
        Step::ReadFile { path } => read_file(path),
        Step::WriteFile { path, content } => write_file(path, content),
        Step::Shell { command } => shell(command),
        // Steps with children or shared state (threads, loops, open
        // handles) run in the session, which owns what they share.
        Step::Parallel { .. } | Step::Loop { .. } | Step::Open { .. } | Step::Close { .. } => {
            Outcome::now(EventKind::AgentError { message: "this step cannot run on its own".into() })
        }
    }
}

fn syscall_outcome(name: &str, target: &str, timed: sys::Timed) -> Outcome {
    Outcome {
        t_ns: timed.start_ns,
        kind: EventKind::Syscall {
            name: name.to_owned(),
            target: target.to_owned(),
            ret: timed.ret,
            errno: timed.errno,
            duration_ns: timed.duration_ns,
        },
    }
}

fn load(path: &str, params: &str) -> Outcome {
    let params_c = match sys::c_string("module parameters", params) {
        Ok(params_c) => params_c,
        Err(message) => return Outcome::error(message),
    };
    // std opens with O_RDONLY | O_CLOEXEC, which is what finit_module needs.
    let start_ns = sys::monotonic_ns();
    let module = match File::open(path) {
        Ok(module) => module,
        Err(error) => {
            let end_ns = sys::monotonic_ns();
            // An errno is the kernel's answer and goes to the host as data;
            // anything else (a NUL in the path) means we never asked.
            let Some(errno) = error.raw_os_error() else {
                return Outcome::error(format!("cannot open module {path:?}: {error}"));
            };
            let timed = sys::Timed { ret: -1, errno: Some(errno), start_ns, duration_ns: end_ns - start_ns };
            return syscall_outcome("open", path, timed);
        }
    };
    syscall_outcome("finit_module", path, sys::finit_module(module.as_fd(), &params_c))
}

/// The kernel's own modules, where the host's `modules_install` put them.
fn in_tree_dir() -> io::Result<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")?;
    Ok(format!("/lib/modules/{}", release.trim()))
}

/// `modules.dep`'s line for `name` (dashes and underscores alike): the
/// module's path and its dependencies' paths, relative to the directory.
fn dependency_line(modules_dep: &str, name: &str) -> Option<(String, Vec<String>)> {
    let wanted = modules_dep::module_name(name);
    modules_dep::parse(modules_dep).into_iter().find(|m| m.name == wanted).map(|m| (m.path, m.dependencies))
}

fn load_in_tree(name: &str, params: &str) -> Outcome {
    let dir = match in_tree_dir() {
        Ok(dir) => dir,
        Err(error) => return Outcome::error(format!("cannot read the kernel release: {error}")),
    };
    let modules_dep = match std::fs::read_to_string(format!("{dir}/modules.dep")) {
        Ok(text) => text,
        Err(error) => return Outcome::error(format!("cannot read {dir}/modules.dep: {error}")),
    };
    let Some((path, dependencies)) = dependency_line(&modules_dep, name) else {
        return Outcome::error(format!("{dir}/modules.dep has no module {name}"));
    };
    // modprobe's order: the last dependency listed is loaded first.
    for dependency in dependencies.iter().rev() {
        let outcome = load(&format!("{dir}/{dependency}"), "");
        let already_loaded = matches!(outcome.kind, EventKind::Syscall { errno: Some(libc::EEXIST), .. });
        let loaded = matches!(outcome.kind, EventKind::Syscall { ret: 0, .. });
        if !loaded && !already_loaded {
            return outcome;
        }
    }
    load(&format!("{dir}/{path}"), params)
}

fn unload(name: &str, flags: UnloadFlags) -> Outcome {
    match sys::c_string("module name", name) {
        Ok(name_c) => syscall_outcome("delete_module", name, sys::delete_module(&name_c, flags)),
        Err(message) => Outcome::error(message),
    }
}

/// Reads at most `limit` bytes, then drains and discards the rest so that
/// a writer on the other end of a pipe is never left blocked.
pub fn read_limited(mut reader: impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    reader.by_ref().take(limit as u64).read_to_end(&mut kept)?;
    io::copy(&mut reader, &mut io::sink())?;
    Ok(kept)
}

fn read_file(path: &str) -> Outcome {
    // Only the first READ_LIMIT bytes are read: procfs and sysfs files can
    // be endless or have side effects on read, so no draining here.
    let result = File::open(path).and_then(|file| {
        let mut kept = Vec::new();
        file.take(READ_LIMIT as u64).read_to_end(&mut kept)?;
        Ok(kept)
    });
    let (content, errno) = match result {
        Ok(bytes) => (Some(String::from_utf8_lossy(&bytes).into_owned()), None),
        Err(error) => match error.raw_os_error() {
            Some(errno) => (None, Some(errno)),
            None => return Outcome::error(format!("cannot read {path:?}: {error}")),
        },
    };
    Outcome::now(EventKind::FileRead { path: path.to_owned(), content, errno })
}

fn write_file(path: &str, content: &str) -> Outcome {
    // The same open as the shell's `echo ... > path` (O_CREAT | O_TRUNC),
    // which is how kernel knobs are poked by hand and known to work.
    let result = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut file| file.write_all(content.as_bytes()));
    let errno = match result {
        Ok(()) => None,
        Err(error) => match error.raw_os_error() {
            Some(errno) => Some(errno),
            None => return Outcome::error(format!("cannot write {path:?}: {error}")),
        },
    };
    Outcome::now(EventKind::FileWritten { path: path.to_owned(), errno })
}

/// The shell's convention: the exit code, or 128 + the signal that killed it.
pub fn exit_status_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        // Stopped or continued: `wait` does not report those to us.
        (None, None) => -1,
    }
}

fn shell(command: &str) -> Outcome {
    match run_shell(command) {
        Ok((status, output)) => Outcome::now(EventKind::ShellDone {
            command: command.to_owned(),
            status,
            output: String::from_utf8_lossy(&output).into_owned(),
        }),
        Err(error) => Outcome::error(format!("cannot run /bin/sh -c {command:?}: {error}")),
    }
}

/// Runs `/bin/sh -c command` with stdout and stderr on one pipe, so the
/// output interleaves as it would on a terminal.
fn run_shell(command: &str) -> io::Result<(i32, Vec<u8>)> {
    let (reader, writer) = io::pipe()?;
    let mut child = {
        let mut shell = Command::new("/bin/sh");
        shell.arg("-c").arg(command).stdin(Stdio::null()).stdout(writer.try_clone()?).stderr(writer);
        shell.spawn()?
        // `shell` drops here with our copies of the write end; otherwise
        // the pipe would never reach end-of-file. (A background process
        // that keeps the pipe open still holds the step until the host's
        // deadline: that is the price of capturing its output.)
    };
    let output = read_limited(reader, READ_LIMIT);
    // Reap the child even when reading failed.
    let status = child.wait()?;
    Ok((exit_status_code(status), output?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_at_the_limit_and_the_rest_is_drained() {
        let mut input = io::Cursor::new(vec![b'x'; 100]);
        let kept = read_limited(&mut input, 10).unwrap();
        assert_eq!(kept, vec![b'x'; 10]);
        assert_eq!(input.position(), 100);
        assert_eq!(read_limited(io::Cursor::new(b"short"), 10).unwrap(), b"short");
    }

    #[test]
    fn in_tree_modules_are_found_with_their_dependencies() {
        let dep = "kernel/fs/configfs/configfs.ko:\n\
                   kernel/drivers/block/null_blk/null_blk.ko: kernel/fs/configfs/configfs.ko\n";
        let (path, deps) = dependency_line(dep, "null-blk").unwrap();
        assert_eq!(path, "kernel/drivers/block/null_blk/null_blk.ko");
        assert_eq!(deps, ["kernel/fs/configfs/configfs.ko"]);
        assert_eq!(dependency_line(dep, "configfs").unwrap().1, Vec::<String>::new());
        assert!(dependency_line(dep, "null").is_none());
    }

    #[test]
    fn shell_captures_stdout_and_stderr_together() {
        let outcome = run(&Step::Shell { command: "echo out; echo err >&2; exit 3".into() });
        assert_eq!(
            outcome.kind,
            EventKind::ShellDone {
                command: "echo out; echo err >&2; exit 3".into(),
                status: 3,
                output: "out\nerr\n".into()
            }
        );
    }

    #[test]
    fn shell_output_is_limited_but_the_shell_is_not_blocked() {
        // Twice the limit: a shell blocked on a full pipe would hang here.
        let command = format!("head -c {} /dev/zero | tr '\\0' a", 2 * READ_LIMIT);
        let EventKind::ShellDone { status, output, .. } = run(&Step::Shell { command }).kind else {
            panic!("not a shell event")
        };
        assert_eq!(status, 0);
        assert_eq!(output, "a".repeat(READ_LIMIT));
    }

    #[test]
    fn a_killed_shell_reports_128_plus_the_signal() {
        let EventKind::ShellDone { status, .. } = run(&Step::Shell { command: "kill -9 $$".into() }).kind else {
            panic!("not a shell event")
        };
        assert_eq!(status, 128 + libc::SIGKILL);
    }

    #[test]
    fn files_are_written_and_read_back_or_give_an_errno() {
        let path = std::env::temp_dir().join(format!("modrig-agent-file-{}", std::process::id()));
        let path = path.to_str().unwrap().to_owned();
        let written = run(&Step::WriteFile { path: path.clone(), content: "1\n".into() });
        assert_eq!(written.kind, EventKind::FileWritten { path: path.clone(), errno: None });
        let read = run(&Step::ReadFile { path: path.clone() });
        assert_eq!(read.kind, EventKind::FileRead { path: path.clone(), content: Some("1\n".into()), errno: None });
        std::fs::remove_file(&path).unwrap();
        let missing = run(&Step::ReadFile { path: path.clone() });
        assert_eq!(missing.kind, EventKind::FileRead { path, content: None, errno: Some(libc::ENOENT) });
    }

    #[test]
    fn a_module_that_cannot_be_opened_is_an_open_syscall_event() {
        let before = sys::monotonic_ns();
        let outcome = run(&Step::Load { path: "/nonexistent/m.ko".into(), params: String::new() });
        let EventKind::Syscall { name, target, ret, errno, .. } = outcome.kind else { panic!("not a syscall event") };
        assert_eq!((name.as_str(), target.as_str(), ret, errno), ("open", "/nonexistent/m.ko", -1, Some(libc::ENOENT)));
        assert!(outcome.t_ns >= before);
    }

    #[test]
    fn a_nul_in_a_module_name_is_an_agent_error() {
        let outcome = run(&Step::Unload { name: "m\0".into(), flags: UnloadFlags::default() });
        let EventKind::AgentError { message } = outcome.kind else { panic!("not an agent error") };
        assert!(message.contains("NUL"), "{message}");
    }

    #[test]
    fn sleep_reports_what_it_slept() {
        assert_eq!(run(&Step::Sleep { ms: 1 }).kind, EventKind::Slept { ms: 1 });
    }
}
