//! Boots one guest, runs one program in it, and gathers the facts for the
//! verdict: how it ended, the agent's events, the whole console.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use modrig_proto::{Event, EventKind, Program, Step};

use super::channel::{Channel, Listener, Received};
use super::console::Console;
use super::hostload::{HostLoad, HostLoadSampler};
use super::qemu::{self, Accel, Detectors, GuestSpec};
use super::verdict::RunEnd;

/// How long the rig waits before it calls a guest hung.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From QEMU's start to the agent's Ready.
    pub boot: Duration,
    /// For one step. Longer than the guest's own detectors (hung task after
    /// 10-20 s), so that the kernel reports a hang first, with a stack.
    pub step: Duration,
    /// For the whole run.
    pub run: Duration,
}

impl Deadlines {
    pub fn for_accel(accel: Accel) -> Deadlines {
        match accel {
            Accel::Kvm => Deadlines {
                boot: Duration::from_secs(20),
                step: Duration::from_secs(40),
                run: Duration::from_secs(300),
            },
            // TCG boots in ~1 s when the host is idle, but a loaded 2-core CI
            // machine running other guests can take ten times that.
            Accel::Tcg => Deadlines {
                boot: Duration::from_secs(60),
                step: Duration::from_secs(45),
                run: Duration::from_secs(600),
            },
        }
    }
}

pub struct RunSpec<'a> {
    pub bzimage: &'a Path,
    pub initrd: &'a Path,
    pub accel: Accel,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub program: &'a Program,
    pub deadlines: Deadlines,
    pub cmdline_extra: Vec<String>,
    /// Where console.log and events.jsonl go.
    pub out_dir: &'a Path,
    /// Ask a hung guest for sysrq w/l/t dumps before killing it (the KVM
    /// probe skips them: a probe guest that hangs in firmware has no kernel).
    pub sysrq_on_hang: bool,
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

static SOCKET_COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn run(spec: &RunSpec<'_>) -> Result<RunOutcome> {
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
    let events_log = spec.out_dir.join("events.jsonl");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(&args);
    std::fs::write(spec.out_dir.join("qemu.argv"), format!("qemu-system-x86_64 {}\n", shell_words(&args)))?;
    let console = Console::spawn(qemu, &console_log)?;
    let mut events_file = File::create(&events_log)?;

    let mut session = Session {
        console: &console,
        events: Vec::new(),
        events_file: &mut events_file,
        scan_offset: 0,
        host_load: None,
    };
    let (end, boot_to_ready) = session.drive(spec, &listener, started)?;
    let events = std::mem::take(&mut session.events);
    let host_load = session.host_load;

    match &end {
        RunEnd::DetectorFired | RunEnd::Deadline { .. } if spec.sysrq_on_hang => {
            // Ask the hung kernel what it is doing before it dies.
            for key in ['w', 'l', 't'] {
                console.sysrq(key);
                std::thread::sleep(SYSRQ_PAUSE);
            }
        }
        RunEnd::Done => {
            // The init script powers off after the agent exits.
            console.wait_for_exit(Duration::from_secs(15));
        }
        _ => {}
    }
    let boot_to_init = console.boot_marker();
    let console_text = console.finish();
    Ok(RunOutcome {
        end,
        events,
        console: console_text,
        console_log,
        events_log,
        boot_to_ready,
        boot_to_init,
        wall: started.elapsed(),
        host_load,
    })
}

struct Session<'a> {
    console: &'a Console,
    events: Vec<Event>,
    events_file: &'a mut File,
    /// How far the console has been scanned for markers.
    scan_offset: usize,
    /// Set by [`Session::drive`] once the program has ended.
    host_load: Option<HostLoad>,
}

impl Session<'_> {
    fn record(&mut self, event: &Event) -> Result<()> {
        serde_json::to_writer(&mut *self.events_file, event)?;
        self.events_file.write_all(b"\n")?;
        self.events_file.flush()?;
        self.events.push(event.clone());
        Ok(())
    }

    /// What new console text says: (a hang detector fired, the kernel panicked).
    fn scan_console(&mut self) -> (bool, bool) {
        let (text, end) = self.console.text_since(self.scan_offset.saturating_sub(64));
        self.scan_offset = end;
        (HANG_MARKERS.iter().any(|m| text.contains(m)), text.contains(PANIC_MARKER))
    }

    fn drive(
        &mut self,
        spec: &RunSpec<'_>,
        listener: &Listener,
        started: Instant,
    ) -> Result<(RunEnd, Option<Duration>)> {
        let boot_deadline = started + spec.deadlines.boot;
        let run_deadline = started + spec.deadlines.run;
        let console = self.console;
        let Some(mut channel) = listener.accept(boot_deadline, || console.ended())? else {
            return Ok((self.early_end("QEMU never connected the agent's channel", spec.deadlines.boot), None));
        };

        // Boot: wait for the agent's Ready.
        let boot_to_ready = loop {
            match channel.poll() {
                Ok(Received::Event(event)) => {
                    let ready = matches!(event.kind, EventKind::Ready { .. });
                    self.record(&event)?;
                    if ready {
                        break started.elapsed();
                    }
                }
                Ok(Received::Nothing) => {
                    if console.ended() || Instant::now() >= boot_deadline {
                        return Ok((self.early_end("the agent never said Ready", spec.deadlines.boot), None));
                    }
                    if self.scan_console().1 {
                        console.wait_for_exit(Duration::from_secs(10));
                        return Ok((RunEnd::GuestExited, None));
                    }
                }
                Ok(Received::Closed) => {
                    console.wait_for_exit(Duration::from_secs(10));
                    return Ok((RunEnd::GuestExited, None));
                }
                Err(e) => return Ok((RunEnd::RigError { message: format!("{e:#}") }, None)),
            }
        };

        channel.send(spec.program).context("sending the program")?;
        // The host-load window covers the program, not the boot. It ends as
        // soon as the run's end is known, before any wait for QEMU to exit
        // (QEMU's /proc entry is gone once it exits and is reaped) and before
        // sysrq dumps. Runs that end early (a deadline, a hang, a panic) are
        // measured up to that point too: whether the host was busy while a
        // guest stalled is exactly what a noisy-boot filter needs. When QEMU
        // is already gone at the end (it exited by itself), the window
        // cannot be closed and host_load is None.
        let sampler = HostLoadSampler::start(console.qemu_pid());
        let (end, wait_for_exit) = self.run_program(spec, &mut channel, run_deadline)?;
        self.host_load = sampler.and_then(HostLoadSampler::finish);
        if wait_for_exit {
            console.wait_for_exit(Duration::from_secs(10));
        }
        Ok((end, Some(boot_to_ready)))
    }

    /// Follows the agent's events until the program ends, one way or
    /// another: (how it ended, whether QEMU is expected to exit by itself).
    fn run_program(
        &mut self,
        spec: &RunSpec<'_>,
        channel: &mut Channel,
        run_deadline: Instant,
    ) -> Result<(RunEnd, bool)> {
        let console = self.console;
        let mut current_step = 0usize;
        let mut step_started = Instant::now();
        let mut detector_seen: Option<Instant> = None;
        loop {
            match channel.poll() {
                Ok(Received::Event(event)) => {
                    self.record(&event)?;
                    if event.kind == EventKind::Done {
                        return Ok((RunEnd::Done, false));
                    }
                    // Any event shows progress; with parallel branches the
                    // step after the last reported one is a best guess.
                    if let Some(step) = event.step {
                        current_step = step + 1;
                    }
                    step_started = Instant::now();
                }
                Ok(Received::Nothing) => {}
                Ok(Received::Closed) => return Ok((RunEnd::GuestExited, true)),
                Err(e) => return Ok((RunEnd::RigError { message: format!("{e:#}") }, false)),
            }
            let (hang, panic) = self.scan_console();
            if panic {
                return Ok((RunEnd::GuestExited, true));
            }
            if console.ended() {
                return Ok((RunEnd::GuestExited, false));
            }
            if hang && detector_seen.is_none() {
                detector_seen = Some(Instant::now());
            }
            if detector_seen.is_some_and(|at| at.elapsed() >= DETECTOR_GRACE) {
                return Ok((RunEnd::DetectorFired, false));
            }
            let now = Instant::now();
            if now >= step_started + spec.deadlines.step {
                let what = format!(
                    "step {current_step} ({}) did not finish: no agent event for {} s",
                    describe_step(modrig_proto::step_at(&spec.program.steps, current_step)),
                    spec.deadlines.step.as_secs()
                );
                return Ok((RunEnd::Deadline { what }, false));
            }
            if now >= run_deadline {
                let what = format!("the run did not finish within {} s", spec.deadlines.run.as_secs());
                return Ok((RunEnd::Deadline { what }, false));
            }
        }
    }

    /// The guest stopped or stalled before the agent was ready.
    fn early_end(&mut self, what: &str, boot: Duration) -> RunEnd {
        if self.console.ended() || self.scan_console().1 {
            self.console.wait_for_exit(Duration::from_secs(10));
            RunEnd::GuestExited
        } else {
            RunEnd::Deadline { what: format!("boot: {what} within {} s", boot.as_secs()) }
        }
    }
}

pub fn describe_step(step: Option<&Step>) -> String {
    match step {
        None => "after the last step".to_string(),
        Some(Step::Load { path, .. }) => format!("load {path}"),
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
