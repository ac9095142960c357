//! Boots a guest, runs programs in it (one, or several one after another),
//! and gathers the facts for the verdicts: how each program ended, the
//! agent's events, the console.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use modrig_proto::{Event, EventKind, Program, Step};

use super::channel::{Channel, Listener, Received};
use super::console::Console;
use super::hostload::{HostLoad, HostLoadSampler};
use super::qemu::{self, Accel, Detectors, GuestSpec};
use crate::outcome::RunEnd;
use crate::progress::{Progress, Reporter};

/// How long the rig waits before it calls a program hung (the boot's own
/// deadline is [`BootSpec::boot_deadline`], see [`boot_deadline`]).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For one step. Longer than the guest's own detectors (hung task after
    /// 10-20 s), so that the kernel reports a hang first, with a stack.
    pub step: Duration,
    /// For one program, from its start.
    pub run: Duration,
}

impl Deadlines {
    pub fn for_accel(accel: Accel) -> Deadlines {
        match accel {
            Accel::Kvm => Deadlines { step: Duration::from_secs(40), run: Duration::from_secs(300) },
            Accel::Tcg => Deadlines { step: Duration::from_secs(45), run: Duration::from_secs(600) },
        }
    }
}

/// From QEMU's start to the agent's Ready. TCG boots in ~1 s when the host
/// is idle, but a loaded 2-core CI machine running other guests can take
/// ten times that.
pub fn boot_deadline(accel: Accel) -> Duration {
    match accel {
        Accel::Kvm => Duration::from_secs(20),
        Accel::Tcg => Duration::from_secs(60),
    }
}

/// One guest that runs one program: how to boot it, what it runs, and how
/// long each step and the program may take (the boot's own deadline is in
/// `boot`).
pub struct RunSpec<'a> {
    pub boot: BootSpec<'a>,
    pub program: &'a Program,
    pub deadlines: Deadlines,
}

pub struct RunOutcome {
    pub end: RunEnd,
    pub events: Vec<Event>,
    pub console: String,
    pub console_log: PathBuf,
    pub events_log: PathBuf,
    /// From QEMU's start to the agent's Ready event.
    pub boot_to_ready: Option<Duration>,
    /// From QEMU's start to the init script's boot marker on the console.
    pub boot_to_init: Option<Duration>,
    pub wall: Duration,
    /// Other processes' CPU use on the host from the program's start (sent
    /// after the agent's Ready) to its end, however it ended; `None` when the
    /// program never started, QEMU was gone by the end, or /proc could not
    /// be read.
    pub host_load: Option<HostLoad>,
}

/// Console lines that mean one of the guest's hang detectors reported.
const HANG_MARKERS: [&str; 5] = [
    "blocked for more than",
    "soft lockup - CPU#",
    "detected stalls on CPUs",
    "self-detected stall on CPU",
    "hard LOCKUP",
];
const PANIC_MARKER: &str = "Kernel panic - not syncing";

/// After a detector fires, the time given to it to finish its report.
const DETECTOR_GRACE: Duration = Duration::from_secs(3);
/// Time for each sysrq dump to reach the console under TCG.
const SYSRQ_PAUSE: Duration = Duration::from_millis(2500);
/// How long a mark written to the kernel log may take to show on the
/// console (it is printed synchronously by the writer; this is slack for
/// the console thread).
const MARK_WAIT: Duration = Duration::from_secs(5);
/// Deadlines of the rig's own small programs between scenarios.
const HOUSEKEEPING: Deadlines = Deadlines { step: Duration::from_secs(30), run: Duration::from_secs(60) };

static SOCKET_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Boots one guest, runs one program in it, and stops it. Console and
/// events go to the boot's `out_dir`.
pub fn run(spec: &RunSpec<'_>) -> Result<RunOutcome> {
    let started = Instant::now();
    let events_log = spec.boot.out_dir.join("events.jsonl");
    match Guest::boot(&spec.boot)? {
        Booted::Failed(failure) => {
            write_events(&events_log, &failure.events)?;
            Ok(RunOutcome {
                end: failure.end,
                events: failure.events,
                console: failure.console,
                console_log: failure.console_log,
                events_log,
                boot_to_ready: None,
                boot_to_init: failure.boot_to_init,
                wall: started.elapsed(),
                host_load: None,
            })
        }
        Booted::Ready(mut guest) => {
            let program = guest.run_program(spec.program, spec.deadlines, Some(&events_log))?;
            let boot_to_ready = Some(guest.boot_to_ready());
            let mut events = vec![guest.ready_event().clone()];
            events.extend(program.events);
            let finished = guest.finish();
            Ok(RunOutcome {
                end: program.end,
                events,
                console: finished.console,
                console_log: finished.console_log,
                events_log,
                boot_to_ready,
                boot_to_init: finished.boot_to_init,
                wall: started.elapsed(),
                host_load: program.host_load,
            })
        }
    }
}

/// How to boot a guest that then runs one program or several.
pub struct BootSpec<'a> {
    pub bzimage: &'a Path,
    pub initrd: &'a Path,
    pub accel: Accel,
    pub vcpus: u32,
    pub memory_mib: u32,
    /// From QEMU's start to the agent's Ready.
    pub boot_deadline: Duration,
    pub cmdline_extra: Vec<String>,
    /// Where the boot's console.log and qemu.argv go.
    pub out_dir: &'a Path,
    /// Ask a hung guest for sysrq w/l/t dumps before killing it.
    pub sysrq_on_hang: bool,
    /// How progress events name this boot.
    pub label: String,
    pub reporter: &'a dyn Reporter,
}

/// What [`Guest::boot`] gives.
pub enum Booted<'a> {
    Ready(Box<Guest<'a>>),
    /// The guest stopped or stalled before its agent was ready.
    Failed(BootFailure),
}

pub struct BootFailure {
    pub end: RunEnd,
    /// Whatever the agent sent before it failed (usually nothing).
    pub events: Vec<Event>,
    pub console: String,
    pub console_log: PathBuf,
    pub boot_to_init: Option<Duration>,
}

/// One program's run in a booted guest.
pub struct ProgramOutcome {
    pub end: RunEnd,
    /// The program's events, without the agent's Ready.
    pub events: Vec<Event>,
    /// Other processes' CPU use on the host while the program ran (see
    /// [`RunOutcome::host_load`]).
    pub host_load: Option<HostLoad>,
    pub wall: Duration,
}

/// What [`Guest::checkpoint`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The console offset just past the mark's line: everything before it
    /// was printed before the mark (the current end of the console when the
    /// mark did not show within [`MARK_WAIT`]).
    pub console_end: usize,
    /// The loaded modules' names, sorted (`None`: /proc/modules could not
    /// be read).
    pub modules: Option<Vec<String>>,
}

/// The module names of a /proc/modules text, sorted.
fn module_names(proc_modules: &str) -> Vec<String> {
    let mut names: Vec<String> =
        proc_modules.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_string).collect();
    names.sort();
    names
}

/// A stopped guest's console.
pub struct Finished {
    pub console: String,
    pub console_log: PathBuf,
    pub boot_to_init: Option<Duration>,
    pub wall: Duration,
}

/// A booted guest whose agent takes programs one after another. After a
/// program that did not end with `Done` (a panic, a hang, a deadline) the
/// guest is dead: it runs nothing more, and [`Guest::finish`] collects what
/// its console said.
pub struct Guest<'a> {
    console: Console,
    channel: Channel,
    /// Kept so its socket file lives as long as the guest.
    _listener: Listener,
    console_log: PathBuf,
    started: Instant,
    /// How far the console has been scanned for hang and panic markers.
    scan_offset: usize,
    ready: Event,
    boot_to_ready: Duration,
    sysrq_on_hang: bool,
    dead: bool,
    label: String,
    reporter: &'a dyn Reporter,
}

impl<'a> Guest<'a> {
    /// Starts QEMU and waits for the agent's Ready.
    pub fn boot(spec: &BootSpec<'a>) -> Result<Booted<'a>> {
        std::fs::create_dir_all(spec.out_dir)?;
        let started = Instant::now();
        // Unix socket paths are limited to 108 bytes: keep it short, in /tmp.
        let socket = std::env::temp_dir().join(format!(
            "modrig-{}-{}.sock",
            std::process::id(),
            SOCKET_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let listener = Listener::bind(&socket)?;
        let cmdline = qemu::kernel_cmdline(Detectors::default(), &spec.cmdline_extra);
        let args = qemu::qemu_args(&GuestSpec {
            accel: spec.accel,
            vcpus: spec.vcpus,
            memory_mib: spec.memory_mib,
            kernel: spec.bzimage,
            initrd: spec.initrd,
            channel_socket: Some(listener.path()),
            cmdline,
        });
        let console_log = spec.out_dir.join("console.log");
        let mut qemu = Command::new("qemu-system-x86_64");
        qemu.args(&args);
        std::fs::write(spec.out_dir.join("qemu.argv"), format!("qemu-system-x86_64 {}\n", shell_words(&args)))?;
        let console = Console::spawn(qemu, &console_log)?;
        spec.reporter.report(&Progress::BootStarted {
            boot: spec.label.clone(),
            vcpus: spec.vcpus,
            accel: spec.accel.name().to_string(),
        });

        let mut scan_offset = 0;
        let boot_deadline = started + spec.boot_deadline;
        let fail = |end: RunEnd, events: Vec<Event>, console: Console| {
            let boot_to_init = console.boot_marker();
            let console = console.finish();
            Ok(Booted::Failed(BootFailure { end, events, console, console_log: console_log.clone(), boot_to_init }))
        };
        let Some(mut channel) = listener.accept(boot_deadline, || console.ended())? else {
            let end = early_end(&console, &mut scan_offset, "QEMU never connected the agent's channel", spec);
            return fail(end, vec![], console);
        };
        let mut events = Vec::new();
        loop {
            match channel.poll() {
                Ok(Received::Event(event)) => {
                    if matches!(event.kind, EventKind::Ready { .. }) {
                        let boot_to_ready = started.elapsed();
                        spec.reporter.report(&Progress::BootReady {
                            boot: spec.label.clone(),
                            ms: boot_to_ready.as_secs_f64() * 1e3,
                        });
                        return Ok(Booted::Ready(Box::new(Guest {
                            console,
                            channel,
                            _listener: listener,
                            console_log,
                            started,
                            scan_offset,
                            ready: event,
                            boot_to_ready,
                            sysrq_on_hang: spec.sysrq_on_hang,
                            dead: false,
                            label: spec.label.clone(),
                            reporter: spec.reporter,
                        })));
                    }
                    events.push(event);
                }
                Ok(Received::Nothing) => {
                    if console.ended() || Instant::now() >= boot_deadline {
                        let end = early_end(&console, &mut scan_offset, "the agent never said Ready", spec);
                        return fail(end, events, console);
                    }
                    if scan(&console, &mut scan_offset).1 {
                        console.wait_for_exit(Duration::from_secs(10));
                        return fail(RunEnd::GuestExited, events, console);
                    }
                }
                Ok(Received::Closed) => {
                    console.wait_for_exit(Duration::from_secs(10));
                    return fail(RunEnd::GuestExited, events, console);
                }
                Err(e) => return fail(RunEnd::RigError { message: format!("{e:#}") }, events, console),
            }
        }
    }

    pub fn ready_event(&self) -> &Event {
        &self.ready
    }

    /// From QEMU's start to the agent's Ready.
    pub fn boot_to_ready(&self) -> Duration {
        self.boot_to_ready
    }

    /// False once a program ended any other way than `Done`.
    pub fn alive(&self) -> bool {
        !self.dead
    }

    /// The console text from byte `from` on, and the offset of its end.
    pub fn console_since(&self, from: usize) -> (String, usize) {
        self.console.text_since(from)
    }

    /// Runs one program, writing the agent's Ready and then each event of
    /// the program to `events_log` (if given) as they come. The step deadline counts
    /// from the last event, the run deadline from the program's start. A
    /// hung guest is asked for sysrq dumps (when the boot asked for them)
    /// before this returns; a panicked one is given time to exit.
    pub fn run_program(
        &mut self,
        program: &Program,
        deadlines: Deadlines,
        events_log: Option<&Path>,
    ) -> Result<ProgramOutcome> {
        self.run(program, deadlines, events_log, Steps::Reported)
    }

    fn run(
        &mut self,
        program: &Program,
        deadlines: Deadlines,
        events_log: Option<&Path>,
        steps: Steps,
    ) -> Result<ProgramOutcome> {
        let started = Instant::now();
        if self.dead {
            bail!("the guest is dead: it cannot run another program");
        }
        let mut log = match events_log {
            Some(path) => Some(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
            None => None,
        };
        if let Some(log) = &mut log {
            write_event(log, &self.ready)?;
        }
        self.channel.send(program).context("sending the program")?;
        // The host-load window covers the program, not the boot. It ends as
        // soon as the program's end is known, before any wait for QEMU to
        // exit (QEMU's /proc entry is gone once it exits and is reaped) and
        // before sysrq dumps. Programs that end early (a deadline, a hang, a
        // panic) are measured up to that point too: whether the host was
        // busy while a guest stalled is exactly what a noisy-boot filter
        // needs. When QEMU is already gone at the end (it exited by itself),
        // the window cannot be closed and host_load is None.
        let sampler = HostLoadSampler::start(self.console.qemu_pid());
        let mut events = Vec::new();
        let (end, wait_for_exit) = self.follow(program, deadlines, started, log.as_mut(), &mut events, steps)?;
        let host_load = sampler.and_then(HostLoadSampler::finish);
        if end != RunEnd::Done {
            self.dead = true;
            if wait_for_exit {
                self.console.wait_for_exit(Duration::from_secs(10));
            }
            if matches!(end, RunEnd::DetectorFired | RunEnd::Deadline { .. }) && self.sysrq_on_hang {
                // Ask the hung kernel what it is doing before it dies.
                for (key, what) in [('w', "blocked tasks"), ('l', "backtraces of active CPUs"), ('t', "all tasks")] {
                    self.reporter.report(&Progress::SysrqSent { boot: self.label.clone(), key, what: what.into() });
                    self.console.sysrq(key);
                    std::thread::sleep(SYSRQ_PAUSE);
                }
            }
        }
        Ok(ProgramOutcome { end, events, host_load, wall: started.elapsed() })
    }

    /// Writes `text` to the kernel log through the agent, reads which
    /// modules are loaded, and waits until the console shows the mark after
    /// byte `from`. One round trip to the agent, since a boot that several
    /// cells share takes a checkpoint after each of them. `Err` with how
    /// the program ended when the guest died on the way.
    pub fn checkpoint(&mut self, text: &str, from: usize) -> Result<Result<Checkpoint, RunEnd>> {
        let program = Program {
            steps: vec![
                Step::WriteFile { path: "/dev/kmsg".into(), content: format!("{text}\n") },
                Step::ReadFile { path: "/proc/modules".into() },
            ],
        };
        let outcome = self.run(&program, HOUSEKEEPING, None, Steps::Unreported)?;
        if outcome.end != RunEnd::Done {
            return Ok(Err(outcome.end));
        }
        let modules = outcome.events.iter().find_map(|event| match &event.kind {
            EventKind::FileRead { content: Some(content), .. } => Some(module_names(content)),
            _ => None,
        });
        let waited = Instant::now();
        loop {
            let (tail, end) = self.console.text_since(from);
            let line_end = tail.find(text).and_then(|at| tail[at..].find('\n').map(|n| at + n + 1));
            if let Some(line_end) = line_end {
                return Ok(Ok(Checkpoint { console_end: from + line_end, modules }));
            }
            if waited.elapsed() >= MARK_WAIT || self.console.ended() {
                return Ok(Ok(Checkpoint { console_end: end, modules }));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the guest: a live one is told there are no more programs and
    /// powers off by itself; a dead one is killed. Returns its console.
    pub fn finish(mut self) -> Finished {
        if !self.dead && self.channel.end_of_programs().is_ok() {
            // The init script powers off after the agent exits.
            self.console.wait_for_exit(Duration::from_secs(15));
        }
        let boot_to_init = self.console.boot_marker();
        let console = self.console.finish();
        Finished { console, console_log: self.console_log, boot_to_init, wall: self.started.elapsed() }
    }

    /// Follows the agent's events until the program ends, one way or
    /// another: (how it ended, whether QEMU is expected to exit by itself).
    fn follow(
        &mut self,
        program: &Program,
        deadlines: Deadlines,
        started: Instant,
        mut log: Option<&mut File>,
        events: &mut Vec<Event>,
        steps: Steps,
    ) -> Result<(RunEnd, bool)> {
        let run_deadline = started + deadlines.run;
        let mut current_step = 0usize;
        // Steps are reported the first time the agent reports on them, so a
        // loop of 200 iterations is one event, not 200.
        let mut reported_steps = std::collections::BTreeSet::new();
        let mut step_started = Instant::now();
        let mut detector_seen: Option<Instant> = None;
        loop {
            match self.channel.poll() {
                Ok(Received::Event(event)) => {
                    if let Some(log) = log.as_deref_mut() {
                        write_event(log, &event)?;
                    }
                    if event.kind == EventKind::Done {
                        return Ok((RunEnd::Done, false));
                    }
                    // Any event shows progress; with parallel branches the
                    // step after the last reported one is a best guess.
                    if let Some(step) = event.step {
                        current_step = step + 1;
                        if steps == Steps::Reported && reported_steps.insert(step) {
                            let what = modrig_proto::describe_step(modrig_proto::step_at(&program.steps, step));
                            self.reporter.report(&Progress::Step { boot: self.label.clone(), step, what });
                        }
                    }
                    events.push(event);
                    step_started = Instant::now();
                }
                Ok(Received::Nothing) => {}
                Ok(Received::Closed) => return Ok((RunEnd::GuestExited, true)),
                Err(e) => return Ok((RunEnd::RigError { message: format!("{e:#}") }, false)),
            }
            let (hang, panic) = scan(&self.console, &mut self.scan_offset);
            if panic {
                self.reporter
                    .report(&Progress::DetectorFired { boot: self.label.clone(), what: "kernel panic".into() });
                return Ok((RunEnd::GuestExited, true));
            }
            if self.console.ended() {
                return Ok((RunEnd::GuestExited, false));
            }
            if let (Some(what), None) = (&hang, detector_seen) {
                detector_seen = Some(Instant::now());
                self.reporter.report(&Progress::DetectorFired { boot: self.label.clone(), what: what.clone() });
            }
            if detector_seen.is_some_and(|at| at.elapsed() >= DETECTOR_GRACE) {
                return Ok((RunEnd::DetectorFired, false));
            }
            let now = Instant::now();
            if now >= step_started + deadlines.step {
                let what = format!(
                    "step {current_step} ({}) did not finish: no agent event for {} s",
                    modrig_proto::describe_step(modrig_proto::step_at(&program.steps, current_step)),
                    deadlines.step.as_secs()
                );
                return Ok((RunEnd::Deadline { what }, false));
            }
            if now >= run_deadline {
                let what = format!("the program did not finish within {} s", deadlines.run.as_secs());
                return Ok((RunEnd::Deadline { what }, false));
            }
        }
    }
}

/// What new console text says: (the line of a hang detector's report, the
/// kernel panicked).
fn scan(console: &Console, offset: &mut usize) -> (Option<String>, bool) {
    let (text, end) = console.text_since(offset.saturating_sub(64));
    *offset = end;
    let hang = text.lines().find(|line| HANG_MARKERS.iter().any(|m| line.contains(m)));
    (hang.map(|line| line.trim().to_string()), text.contains(PANIC_MARKER))
}

/// Whether a program's steps are reported as progress: a scenario's are,
/// the rig's own checkpoints between cells are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steps {
    Reported,
    Unreported,
}

/// The guest stopped or stalled before the agent was ready.
fn early_end(console: &Console, offset: &mut usize, what: &str, spec: &BootSpec<'_>) -> RunEnd {
    if console.ended() || scan(console, offset).1 {
        console.wait_for_exit(Duration::from_secs(10));
        RunEnd::GuestExited
    } else {
        RunEnd::Deadline { what: format!("boot: {what} within {} s", spec.boot_deadline.as_secs()) }
    }
}

fn write_event(log: &mut File, event: &Event) -> Result<()> {
    serde_json::to_writer(&mut *log, event)?;
    log.write_all(b"\n")?;
    log.flush()?;
    Ok(())
}

fn write_events(path: &Path, events: &[Event]) -> Result<()> {
    let mut log = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    events.iter().try_for_each(|event| write_event(&mut log, event))
}

/// The argv as a copy-pasteable shell line (for the qemu.argv file only).
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,./:+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
