//! Every QEMU dies with its run: on its deadline, on a panic of the rig, on
//! an error, and on Ctrl-C or SIGTERM.
//!
//! Each QEMU run by the rig is in a process group of its own (it is a
//! session leader on its pty). A [`GroupGuard`] registers the group while
//! the run owns it and kills it when dropped; the signal handler kills every
//! registered group before the rig exits. (The interactive shell's QEMU
//! shares the terminal's group and is registered as a single process.)

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

/// kill(2) targets: a negative number is a process group.
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Exit status after an interrupt (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT: i32 = 130;

/// Installs the SIGINT/SIGTERM/SIGHUP handler once per process.
pub fn install_signal_handler() -> anyhow::Result<()> {
    HANDLER
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                let killed = kill_all();
                eprintln!("\nmodrig: interrupted; killed {killed} QEMU process group(s)");
                std::process::exit(INTERRUPTED_EXIT);
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))
}

/// Kills every registered process group; returns how many there were.
pub fn kill_all() -> usize {
    let groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    for &target in groups.iter() {
        kill(target);
    }
    groups.len()
}

fn kill(target: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative target
    // names a process group.
    unsafe {
        libc::kill(target, libc::SIGKILL);
    }
}

/// Owns a process group (or one process): registered while alive, killed
/// when dropped.
#[derive(Debug)]
pub struct GroupGuard {
    target: i32,
}

impl GroupGuard {
    /// Owns the process group `pgid`.
    pub fn new(pgid: i32) -> GroupGuard {
        Self::register(-pgid)
    }

    /// Owns the single process `pid` (one that shares the rig's group).
    pub fn process(pid: i32) -> GroupGuard {
        Self::register(pid)
    }

    fn register(target: i32) -> GroupGuard {
        LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).insert(target);
        GroupGuard { target }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill(self.target);
        LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.target);
    }
}
