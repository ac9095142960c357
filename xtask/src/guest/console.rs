//! The guest's serial console: QEMU under rexpect on a pty.
//!
//! A thread owns the rexpect session. It drains the console line by line
//! (QEMU would block on a full pty otherwise), appends every line to the
//! console log at once (so a crash of the rig loses nothing), and keeps the
//! text for the runner. The runner talks to the thread through commands:
//! sysrq (a serial BREAK, `Ctrl-A b`, then the key) and stop.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rexpect::error::Error as ExpectError;
use rexpect::reader::Options;
use rexpect::session::PtySession;

use super::reaper::GroupGuard;

#[derive(Debug, Default)]
struct Shared {
    text: String,
    /// The pty reached EOF: QEMU exited.
    ended: bool,
    /// When the init script's boot marker appeared, from QEMU's start.
    boot_marker: Option<Duration>,
}

enum ConsoleCommand {
    SysRq(char),
    Stop,
}

/// A running QEMU and its console.
pub struct Console {
    shared: Arc<Mutex<Shared>>,
    commands: Sender<ConsoleCommand>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    qemu_pid: i32,
}

impl Console {
    /// Starts `qemu` on a pty (in a process group of its own) and begins
    /// logging its console to `log_path`.
    pub fn spawn(qemu: Command, log_path: &Path) -> Result<Console> {
        let mut log = File::create(log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        let options = Options::default().timeout_ms(Some(100)).strip_ansi_escape_codes(true);
        let started = Instant::now();
        let session = rexpect::session::spawn_with_options(qemu, options).context("cannot start QEMU")?;
        let qemu_pid = process_group_of(&session)?;
        let guard = GroupGuard::new(qemu_pid);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (commands, inbox) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("console".into())
            .spawn(move || drain(session, guard, inbox, thread_shared, &mut log, started))?;
        Ok(Console { shared, commands, thread: Some(thread), started, qemu_pid })
    }

    /// Everything the console printed so far.
    pub fn text(&self) -> String {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).text.clone()
    }

    /// The console text from byte `from` on, and the new end offset.
    pub fn text_since(&self, from: usize) -> (String, usize) {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let from = from.min(shared.text.len());
        (shared.text[from..].to_string(), shared.text.len())
    }

    /// When the guest's init printed its boot marker (userspace is up), from
    /// QEMU's start; `None` before that.
    pub fn boot_marker(&self) -> Option<Duration> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).boot_marker
    }

    /// True once QEMU has exited (its pty reached EOF).
    pub fn ended(&self) -> bool {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).ended
    }

    /// QEMU's pid (for reading its CPU time in /proc). rexpect forks, calls
    /// setsid() and execs QEMU directly, so QEMU leads a session and a
    /// process group of its own on its pty: the pty's foreground process
    /// group id found by [`process_group_of`] is QEMU's pid. The pid stays
    /// QEMU's until the console thread reaps it after it exits.
    pub fn qemu_pid(&self) -> i32 {
        self.qemu_pid
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Asks the guest kernel for a sysrq dump (`w`, `l`, `t`, ...).
    pub fn sysrq(&self, key: char) {
        let _ = self.commands.send(ConsoleCommand::SysRq(key));
    }

    /// Waits up to `timeout` for QEMU to exit by itself.
    pub fn wait_for_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ended() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.ended()
    }

    /// Kills QEMU (if still running), drains what is left and returns the
    /// whole console text.
    pub fn finish(mut self) -> String {
        let _ = self.commands.send(ConsoleCommand::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.text()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.commands.send(ConsoleCommand::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// QEMU's process group: it is the session leader on its pty, so the pty's
/// foreground group is QEMU's. (rexpect does not expose the child's pid.)
fn process_group_of(session: &PtySession) -> Result<i32> {
    use std::os::fd::AsRawFd;
    let master = session.process().get_file_handle().context("cannot get QEMU's pty")?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: tcgetpgrp only reads the terminal's state through a
        // valid file descriptor that `master` owns.
        let pgid = unsafe { libc::tcgetpgrp(master.as_raw_fd()) };
        if pgid > 0 {
            return Ok(pgid);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("QEMU did not take over its pty within 5 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn drain(
    mut session: PtySession,
    guard: GroupGuard,
    inbox: Receiver<ConsoleCommand>,
    shared: Arc<Mutex<Shared>>,
    log: &mut File,
    started: Instant,
) {
    let mut append = |text: &str| {
        let _ = log.write_all(text.as_bytes());
        let _ = log.flush();
        shared.lock().unwrap_or_else(|e| e.into_inner()).text.push_str(text);
    };
    loop {
        match inbox.try_recv() {
            Ok(ConsoleCommand::SysRq(key)) => {
                // With `-serial mon:stdio`, Ctrl-A b sends a BREAK on the
                // serial line; the 8250 driver turns BREAK + key into sysrq.
                let _ = session.send("\x01b");
                let _ = session.flush();
                std::thread::sleep(Duration::from_millis(50));
                let _ = session.send(&key.to_string());
                let _ = session.flush();
            }
            Ok(ConsoleCommand::Stop) | Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        match session.read_line() {
            Ok(line) => {
                if line.contains(modrig_proto::BOOT_MARKER) {
                    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
                    shared.boot_marker.get_or_insert(started.elapsed());
                }
                append(&format!("{line}\n"))
            }
            Err(ExpectError::Timeout { .. }) => {}
            Err(ExpectError::EOF { got, .. }) => {
                append(&got);
                shared.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
                break;
            }
            Err(_) => {
                shared.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
                break;
            }
        }
    }
    // Kill the whole group, then reap QEMU so rexpect's own drop finds it
    // gone instead of trying (and failing) to stop it again.
    drop(guard);
    let _ = session.process_mut().wait();
    shared.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
}
