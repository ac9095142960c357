//! The conversation with the host, over any reader and writer: announce
//! ourselves, then for each program the host sends, answer each step and say
//! we are done, until the host says there are no more.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::sync::Mutex;

use modrig_proto::{count_steps, Event, EventKind, Program, Step, END_OF_PROGRAMS};

use crate::steps;
use crate::sys;

/// Why a session ended early. Either way the host is unreachable, so the
/// caller can only tell the console.
#[derive(Debug)]
pub enum SessionError {
    /// Writing an event to the host failed.
    Write(io::Error),
    /// Reading the program failed.
    Read(io::Error),
    /// The host closed the port (or never wrote) before sending a program.
    NoProgram,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Write(error) => write!(f, "cannot write to the host: {error}"),
            SessionError::Read(error) => write!(f, "cannot read the program from the host: {error}"),
            SessionError::NoProgram => write!(f, "the host hung up before sending a program"),
        }
    }
}

/// One JSON line, flushed, so the host sees each event as it happens.
fn emit(output: &mut impl Write, event: &Event) -> Result<(), SessionError> {
    let mut line = serde_json::to_vec(event).map_err(|error| SessionError::Write(error.into()))?;
    line.push(b'\n');
    output.write_all(&line).and_then(|()| output.flush()).map_err(SessionError::Write)
}

fn emit_now(output: &mut impl Write, step: Option<usize>, kind: EventKind) -> Result<(), SessionError> {
    emit(output, &Event { t_ns: sys::monotonic_ns(), step, cpu: None, iteration: None, kind })
}

/// Events from concurrent branches go through one lock, a whole line at a
/// time, so lines never interleave.
fn emit_shared<W: Write>(output: &Mutex<W>, event: &Event) -> Result<(), SessionError> {
    let mut output = output.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    emit(&mut *output, event)
}

/// What steps running on several threads share: the output, the open file
/// handles, and (per thread) the iteration of the innermost loop.
struct Ctx<'a, W> {
    output: &'a Mutex<W>,
    handles: &'a Mutex<HashMap<String, File>>,
    iteration: Option<u64>,
}

impl<W> Clone for Ctx<'_, W> {
    fn clone(&self) -> Self {
        Ctx { output: self.output, handles: self.handles, iteration: self.iteration }
    }
}

impl<W: Write> Ctx<'_, W> {
    fn emit(&self, t_ns: u64, step: usize, cpu: Option<u32>, kind: EventKind) -> Result<(), SessionError> {
        emit_shared(self.output, &Event { t_ns, step: Some(step), cpu, iteration: self.iteration, kind })
    }
}

/// Runs `steps`, the first of which has pre-order index `first`, emitting
/// one event per step (per iteration, inside loops). Parallel steps run
/// their branches on scoped threads, each pinned to its CPU when asked; a
/// parallel or loop step's own event comes after those of its steps.
/// Returns whether the last unload among `steps` succeeded, if there was one
/// (for `until_ok` loops).
fn run_steps<W: Write + Send>(steps: &[Step], first: usize, ctx: &Ctx<'_, W>) -> Result<Option<bool>, SessionError> {
    let mut index = first;
    let mut last_unload_ok = None;
    for step in steps {
        let cpu = sys::current_cpu();
        match step {
            Step::Parallel { branches } => {
                let started = sys::monotonic_ns();
                let mut branch_first = index + 1;
                let results: Vec<Result<Option<bool>, SessionError>> = std::thread::scope(|scope| {
                    let handles: Vec<_> = branches
                        .iter()
                        .map(|branch| {
                            let first = branch_first;
                            branch_first += count_steps(&branch.steps);
                            let parallel_index = index;
                            let ctx = ctx.clone();
                            scope.spawn(move || {
                                if let Some(cpu) = branch.cpu {
                                    if let Err(errno) = sys::pin_to_cpu(cpu) {
                                        let message = format!("cannot pin a branch to CPU {cpu}: errno {errno}");
                                        let kind = EventKind::AgentError { message };
                                        ctx.emit(sys::monotonic_ns(), parallel_index, None, kind)?;
                                        return Ok(None);
                                    }
                                }
                                run_steps(&branch.steps, first, &ctx)
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap_or(Ok(None))).collect()
                });
                for result in results {
                    result?;
                }
                ctx.emit(started, index, cpu, EventKind::ParallelDone { branches: branches.len() })?;
            }
            Step::Loop { count, duration_ms, until_ok, steps: body } => {
                let started = sys::monotonic_ns();
                let deadline = duration_ms.map(|ms| started.saturating_add(ms.saturating_mul(1_000_000)));
                let mut iterations = 0u64;
                loop {
                    if count.is_some_and(|n| iterations >= n) || deadline.is_some_and(|d| sys::monotonic_ns() >= d) {
                        break;
                    }
                    if count.is_none() && deadline.is_none() {
                        break; // the host validates this; never loop forever
                    }
                    let inner = Ctx { iteration: Some(iterations), ..ctx.clone() };
                    let unload_ok = run_steps(body, index + 1, &inner)?;
                    iterations += 1;
                    if *until_ok && unload_ok == Some(true) {
                        break;
                    }
                }
                ctx.emit(started, index, cpu, EventKind::LoopDone { iterations })?;
            }
            Step::Open { path, handle } => {
                let t_ns = sys::monotonic_ns();
                let errno = match File::open(path) {
                    Ok(file) => {
                        ctx.handles.lock().unwrap_or_else(|p| p.into_inner()).insert(handle.clone(), file);
                        None
                    }
                    Err(error) => Some(error.raw_os_error().unwrap_or(libc::EIO)),
                };
                ctx.emit(t_ns, index, cpu, EventKind::Opened { path: path.clone(), handle: handle.clone(), errno })?;
            }
            Step::Close { handle } => {
                let t_ns = sys::monotonic_ns();
                let file = ctx.handles.lock().unwrap_or_else(|p| p.into_inner()).remove(handle);
                // Dropping the File closes it; an unknown handle is EBADF.
                let errno = if file.is_some() { None } else { Some(libc::EBADF) };
                drop(file);
                ctx.emit(t_ns, index, cpu, EventKind::Closed { handle: handle.clone(), errno })?;
            }
            single => {
                let outcome = steps::run(single);
                if let (Step::Unload { .. }, EventKind::Syscall { errno, .. }) = (single, &outcome.kind) {
                    last_unload_ok = Some(errno.is_none());
                }
                ctx.emit(outcome.t_ns, index, cpu, outcome.kind)?;
            }
        }
        index += count_steps(std::slice::from_ref(step));
    }
    Ok(last_unload_ok)
}

/// Runs the whole protocol: `ready` first, then program lines read from
/// `input`, each answered with one event per step and `Done`, until an
/// [`END_OF_PROGRAMS`] line or the end of the input. A program that does not
/// parse is answered with an `AgentError` and `Done`, so the host always
/// gets an end to wait for. Each program starts afresh: handles opened by
/// one are closed when it ends.
pub fn serve(mut input: impl BufRead, mut output: impl Write + Send, ready: EventKind) -> Result<(), SessionError> {
    emit_now(&mut output, None, ready)?;
    let mut served = 0usize;
    loop {
        // Bytes, not a String: invalid UTF-8 is a malformed program for the
        // host to hear about, not an I/O error that ends the session.
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line).map_err(SessionError::Read)? == 0 {
            // A host that hangs up after a program has simply finished.
            return if served == 0 { Err(SessionError::NoProgram) } else { Ok(()) };
        }
        if line.trim_ascii() == END_OF_PROGRAMS.as_bytes() {
            return Ok(());
        }
        run_program(&line, &mut output)?;
        served += 1;
    }
}

fn run_program(line: &[u8], mut output: impl Write + Send) -> Result<(), SessionError> {
    match serde_json::from_slice::<Program>(line) {
        Ok(program) => {
            let shared = Mutex::new(&mut output);
            let handles = Mutex::new(HashMap::new());
            run_steps(&program.steps, 0, &Ctx { output: &shared, handles: &handles, iteration: None })?;
        }
        Err(error) => {
            let message = format!("malformed program: {error}");
            emit_now(&mut output, None, EventKind::AgentError { message })?;
        }
    }
    emit_now(&mut output, None, EventKind::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> EventKind {
        EventKind::Ready { kernel_release: "6.12.0".into(), cpus: 2 }
    }

    fn events(output: &[u8]) -> Vec<Event> {
        let text = std::str::from_utf8(output).unwrap();
        assert!(text.ends_with('\n'), "every event is a whole line: {text:?}");
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    #[test]
    fn each_step_gets_an_event_with_its_index_then_done() {
        let program = r#"{"steps":[{"op":"sleep","ms":0},{"op":"read_file","path":"/nonexistent"}]}"#;
        let mut output = Vec::new();
        serve(io::Cursor::new(format!("{program}\n")), &mut output, ready()).unwrap();
        let events = events(&output);
        let shape: Vec<(Option<usize>, &EventKind)> = events.iter().map(|event| (event.step, &event.kind)).collect();
        assert_eq!(
            shape,
            [
                (None, &ready()),
                (Some(0), &EventKind::Slept { ms: 0 }),
                (
                    Some(1),
                    &EventKind::FileRead { path: "/nonexistent".into(), content: None, errno: Some(libc::ENOENT) }
                ),
                (None, &EventKind::Done),
            ]
        );
        assert!(events.windows(2).all(|pair| pair[0].t_ns <= pair[1].t_ns), "{events:?}");
    }

    #[test]
    fn parallel_branches_run_pinned_and_are_numbered_in_pre_order() {
        let program = r#"{"steps":[{"op":"parallel","branches":[
            {"cpu":0,"steps":[{"op":"sleep","ms":20},{"op":"sleep","ms":0}]},
            {"steps":[{"op":"sleep","ms":1}]}
        ]},{"op":"sleep","ms":0}]}"#
            .replace('\n', "");
        let mut output = Vec::new();
        serve(io::Cursor::new(format!("{program}\n")), &mut output, ready()).unwrap();
        let events = events(&output);
        let steps: Vec<Option<usize>> = events.iter().map(|e| e.step).collect();
        // Branch 1's short sleep (step 3) ends before branch 0's (steps 1, 2);
        // the parallel step (0) reports after both; then step 4.
        assert_eq!(steps, [None, Some(3), Some(1), Some(2), Some(0), Some(4), None], "{events:?}");
        assert_eq!(events[4].kind, EventKind::ParallelDone { branches: 2 });
        // The pinned branch ran on CPU 0.
        assert_eq!(events[2].cpu, Some(0));
        assert_eq!(events[3].cpu, Some(0));
    }

    #[test]
    fn loops_count_iterate_and_stop_until_ok() {
        let program = r#"{"steps":[
            {"op":"loop","count":3,"steps":[{"op":"sleep","ms":0}]},
            {"op":"loop","count":5,"until_ok":true,"steps":[{"op":"unload","name":"modrig_no_such_module","flags":{}}]},
            {"op":"loop","duration_ms":30,"steps":[{"op":"sleep","ms":10}]}
        ]}"#
        .replace('\n', "");
        let mut output = Vec::new();
        serve(io::Cursor::new(format!("{program}\n")), &mut output, ready()).unwrap();
        let events = events(&output);
        let iterations: Vec<(Option<usize>, Option<u64>)> = events.iter().map(|e| (e.step, e.iteration)).collect();
        assert_eq!(&iterations[1..5], [(Some(1), Some(0)), (Some(1), Some(1)), (Some(1), Some(2)), (Some(0), None)]);
        assert_eq!(events[4].kind, EventKind::LoopDone { iterations: 3 });
        // The unload always fails (ENOENT, or EPERM without the privilege),
        // so `until_ok` never stops the loop before its count.
        let done: Vec<&EventKind> =
            events.iter().filter(|e| matches!(e.kind, EventKind::LoopDone { .. })).map(|e| &e.kind).collect();
        assert_eq!(done[1], &EventKind::LoopDone { iterations: 5 });
        let EventKind::LoopDone { iterations } = done[2] else { unreachable!() };
        assert!((2..=4).contains(iterations), "a 30 ms loop of 10 ms sleeps ran {iterations} times");
    }

    #[test]
    fn open_keeps_a_handle_until_close() {
        let program = r#"{"steps":[{"op":"open","path":"/proc/self/status","handle":"h"},{"op":"close","handle":"h"},{"op":"close","handle":"h"},{"op":"open","path":"/nonexistent","handle":"x"}]}"#;
        let mut output = Vec::new();
        serve(io::Cursor::new(format!("{program}\n")), &mut output, ready()).unwrap();
        let kinds: Vec<EventKind> = events(&output).into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds[1], EventKind::Opened { path: "/proc/self/status".into(), handle: "h".into(), errno: None });
        assert_eq!(kinds[2], EventKind::Closed { handle: "h".into(), errno: None });
        assert_eq!(kinds[3], EventKind::Closed { handle: "h".into(), errno: Some(libc::EBADF) });
        assert_eq!(
            kinds[4],
            EventKind::Opened { path: "/nonexistent".into(), handle: "x".into(), errno: Some(libc::ENOENT) }
        );
    }

    #[test]
    fn a_program_without_a_newline_still_runs() {
        let mut output = Vec::new();
        serve(io::Cursor::new(r#"{"steps":[]}"#), &mut output, ready()).unwrap();
        let kinds: Vec<EventKind> = events(&output).into_iter().map(|event| event.kind).collect();
        assert_eq!(kinds, [ready(), EventKind::Done]);
    }

    #[test]
    fn a_malformed_program_is_an_agent_error_then_done() {
        for line in [&b"{\"steps\":[{\"op\":\"reboot\"}]}\n"[..], b"not json\n", b"\xff\xfe\n"] {
            let mut output = Vec::new();
            serve(io::Cursor::new(line), &mut output, ready()).unwrap();
            let events = events(&output);
            assert_eq!(events.len(), 3, "{events:?}");
            let EventKind::AgentError { message } = &events[1].kind else { panic!("not an agent error: {events:?}") };
            assert!(message.starts_with("malformed program: "), "{message}");
            assert_eq!(events[2].kind, EventKind::Done);
        }
    }

    #[test]
    fn several_programs_run_one_after_another_until_the_end_line() {
        let input = format!(
            "{}\n{}\n{END_OF_PROGRAMS}\n{}\n",
            r#"{"steps":[{"op":"open","path":"/proc/self/status","handle":"h"}]}"#,
            r#"{"steps":[{"op":"close","handle":"h"}]}"#,
            r#"{"steps":[{"op":"sleep","ms":0}]}"#
        );
        let mut output = Vec::new();
        serve(io::Cursor::new(input), &mut output, ready()).unwrap();
        let kinds: Vec<EventKind> = events(&output).into_iter().map(|e| e.kind).collect();
        // The second program cannot close the first one's handle: each
        // program starts afresh. Nothing after the end line runs.
        assert_eq!(
            kinds,
            [
                ready(),
                EventKind::Opened { path: "/proc/self/status".into(), handle: "h".into(), errno: None },
                EventKind::Done,
                EventKind::Closed { handle: "h".into(), errno: Some(libc::EBADF) },
                EventKind::Done,
            ]
        );
    }

    #[test]
    fn a_host_that_hangs_up_gets_only_ready() {
        let mut output = Vec::new();
        let error = serve(io::Cursor::new(""), &mut output, ready()).unwrap_err();
        assert!(matches!(error, SessionError::NoProgram), "{error}");
        assert_eq!(events(&output).len(), 1);
    }
}
