//! The noisy-host guard: how much host CPU *other* processes used while a
//! guest's scenario ran.
//!
//! Under TCG every vCPU is a host thread, so a compiler or another CI job
//! that takes one of a small host's cores skews the guest's timing. The
//! sampler reads the host's busy time from `/proc/stat` and subtracts what
//! QEMU and the rig itself used (from their `/proc/<pid>/stat`); the rest,
//! per second of wall time, is the other processes' load in host cores.
//!
//! Everything here is best effort: a failed read gives `None`, never an
//! error, because a missing measurement must not fail a cell.
//!
//! What counts as "other": every process except this QEMU and the rig's own
//! process, plus time the kernel spends in interrupts and time a hypervisor
//! steals from the host (both slow the guest just the same). When the matrix
//! runs cells in parallel, the other cells' QEMUs count as other (they do
//! compete for the cores), while their rig threads are part of this process
//! and are left out.

use std::time::Instant;

pub use crate::record::HostLoad;

/// The host's busy time in clock ticks (USER_HZ) from the text of
/// `/proc/stat`: user + nice + system + irq + softirq + steal of the
/// aggregate `cpu ` line. Idle and iowait are not busy. The guest and
/// guest_nice columns are left out because the kernel already counts them in
/// user and nice (adding them would count a KVM guest's time twice).
pub fn parse_proc_stat_busy(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let at = |i: usize| fields.get(i).copied();
    let (user, nice, system) = (at(0)?, at(1)?, at(2)?);
    // Kernels before 2.6.11 had no steal column (and before 2.6 no irq or
    // softirq); a missing column counts as zero.
    let (irq, softirq, steal) = (at(5).unwrap_or(0), at(6).unwrap_or(0), at(7).unwrap_or(0));
    Some(user + nice + system + irq + softirq + steal)
}

/// The fields of `/proc/<pid>/stat` from field 3 (state) on. Field 2, the
/// command name in parentheses, may itself hold spaces and parentheses
/// (`(my (odd) name)`), so the text is split after the *last* `)`.
fn pid_stat_fields_after_comm(text: &str) -> Option<Vec<&str>> {
    let close = text.rfind(')')?;
    Some(text[close + 1..].split_whitespace().collect())
}

/// A process's CPU time in clock ticks (USER_HZ): utime + stime, fields 14
/// and 15 of `/proc/<pid>/stat`, which sum all of its threads.
pub fn parse_pid_stat_cpu(text: &str) -> Option<u64> {
    let fields = pid_stat_fields_after_comm(text)?;
    // Field n is at index n - 3 once fields 1 and 2 are cut off.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// When a process started, in clock ticks after boot: field 22 of
/// `/proc/<pid>/stat`. With the pid, it tells one process from a later one
/// that reused the pid.
pub fn parse_pid_stat_starttime(text: &str) -> Option<u64> {
    pid_stat_fields_after_comm(text)?.get(22 - 3)?.parse().ok()
}

/// One reading of the counters, all in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub at: Instant,
    /// Busy time of the whole host (all cores).
    pub total: u64,
    /// QEMU's utime + stime.
    pub qemu: u64,
    /// The rig's own utime + stime.
    pub own: u64,
}

impl HostLoad {
    /// The load between two snapshots, with `ticks_per_second` clock ticks
    /// per second. `None` for an empty window or counters that went back.
    pub fn between(start: &Snapshot, end: &Snapshot, ticks_per_second: f64) -> Option<HostLoad> {
        let window_s = end.at.checked_duration_since(start.at)?.as_secs_f64();
        if window_s <= 0.0 || ticks_per_second <= 0.0 {
            return None;
        }
        let total = end.total.checked_sub(start.total)? as f64;
        let qemu = end.qemu.checked_sub(start.qemu)? as f64;
        let own = end.own.checked_sub(start.own)? as f64;
        let cores = |ticks: f64| ticks / (ticks_per_second * window_s);
        // /proc/stat and the per-process times are sampled at slightly
        // different moments and rounded to whole ticks, so on an idle host
        // the difference can come out a few ticks below zero.
        Some(HostLoad { other_cores: cores(total - qemu - own).max(0.0), window_s, qemu_cores: cores(qemu) })
    }
}

/// Measures [`HostLoad`] around a guest's scenario: [`start`] when the
/// program is sent, [`finish`] when it is done — while QEMU still runs,
/// because its `/proc/<pid>` goes away once it exits and is reaped.
///
/// [`start`]: HostLoadSampler::start
/// [`finish`]: HostLoadSampler::finish
#[derive(Debug)]
pub struct HostLoadSampler {
    qemu_pid: i32,
    /// QEMU's start time, to notice a reused pid at the end.
    qemu_started: u64,
    start: Snapshot,
}

impl HostLoadSampler {
    /// Takes the first snapshot; `None` if /proc cannot be read (no procfs,
    /// or QEMU is already gone).
    pub fn start(qemu_pid: i32) -> Option<HostLoadSampler> {
        let qemu_stat = read_pid_stat(qemu_pid)?;
        let qemu_started = parse_pid_stat_starttime(&qemu_stat)?;
        let start = snapshot(&qemu_stat)?;
        Some(HostLoadSampler { qemu_pid, qemu_started, start })
    }

    /// Takes the second snapshot and computes the load; `None` if a read
    /// fails, QEMU is gone, or its pid now belongs to another process.
    pub fn finish(self) -> Option<HostLoad> {
        let qemu_stat = read_pid_stat(self.qemu_pid)?;
        if parse_pid_stat_starttime(&qemu_stat)? != self.qemu_started {
            return None;
        }
        let end = snapshot(&qemu_stat)?;
        HostLoad::between(&self.start, &end, ticks_per_second()?)
    }
}

fn read_pid_stat(pid: i32) -> Option<String> {
    if pid <= 0 {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// A snapshot given QEMU's stat text (read first, as the check for reuse
/// needs it too).
fn snapshot(qemu_stat: &str) -> Option<Snapshot> {
    let qemu = parse_pid_stat_cpu(qemu_stat)?;
    let own = parse_pid_stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let total = parse_proc_stat_busy(&std::fs::read_to_string("/proc/stat").ok()?)?;
    Some(Snapshot { at: Instant::now(), total, qemu, own })
}

/// Clock ticks per second (USER_HZ), the unit of /proc/stat and of
/// /proc/<pid>/stat's times.
fn ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const PROC_STAT: &str = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 7 175628 11
cpu0 1393280 32966 572056 13343292 6130 0 17875 3 27523 0
cpu1 1335714 32521 524580 13402519 2859 0 3312 4 38203 11
intr 199292253 23 9 0 0 0 0 3 0 1 0 0 0 0 0 0 0 0 0
ctxt 2143254
btime 1700000000
processes 123456
procs_running 2
procs_blocked 0
";

    #[test]
    fn proc_stat_busy_sums_the_busy_columns() {
        // user + nice + system + irq + softirq + steal; not idle, iowait,
        // guest or guest_nice.
        assert_eq!(parse_proc_stat_busy(PROC_STAT), Some(10132153 + 290696 + 3084719 + 25195 + 7));
    }

    #[test]
    fn proc_stat_busy_uses_the_aggregate_line_only() {
        let text = "cpu0 1 1 1 1 1 1 1 1\ncpu  1 2 3 1000 1000 4 5 6 0 0\n";
        assert_eq!(parse_proc_stat_busy(text), Some(1 + 2 + 3 + 4 + 5 + 6));
    }

    #[test]
    fn proc_stat_without_steal_or_garbage() {
        assert_eq!(parse_proc_stat_busy("cpu  1 2 3 4 5 6 7\n"), Some(1 + 2 + 3 + 6 + 7));
        assert_eq!(parse_proc_stat_busy("cpu  1 2\n"), None);
        assert_eq!(parse_proc_stat_busy("cpu  1 x 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_proc_stat_busy("intr 1 2 3\n"), None);
        assert_eq!(parse_proc_stat_busy(""), None);
    }

    /// A QEMU's /proc/<pid>/stat (utime 4242, stime 317, starttime 987654).
    const QEMU_STAT: &str = "12345 (qemu-system-x86) S 12300 12345 12345 34816 12345 4194560 52340 0 3 0 \
4242 317 0 0 20 0 5 0 987654 1234567890 40000 18446744073709551615 1 1 0 0 0 0 0 4096 \
1260 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn pid_stat_cpu_is_utime_plus_stime() {
        assert_eq!(parse_pid_stat_cpu(QEMU_STAT), Some(4242 + 317));
        assert_eq!(parse_pid_stat_starttime(QEMU_STAT), Some(987654));
    }

    #[test]
    fn pid_stat_comm_with_spaces_and_parens() {
        // The name `a) b (c) 1 2` would shift every field if split at the
        // first `)` or at spaces.
        let text = "777 (a) b (c) 1 2) R 1 777 777 0 -1 4194304 10 0 0 0 55 66 0 0 20 0 1 0 4321 0 0\n";
        assert_eq!(parse_pid_stat_cpu(text), Some(55 + 66));
        assert_eq!(parse_pid_stat_starttime(text), Some(4321));
    }

    #[test]
    fn pid_stat_truncated_or_garbage() {
        assert_eq!(parse_pid_stat_cpu("777 (x) R 1 2 3"), None);
        assert_eq!(parse_pid_stat_cpu("777 no parens at all 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"), None);
        assert_eq!(parse_pid_stat_cpu("777 (x) R 1 777 777 0 -1 4194304 10 0 0 0 a 66 0"), None);
        assert_eq!(parse_pid_stat_cpu(""), None);
    }

    #[test]
    fn load_between_snapshots() {
        let t0 = Instant::now();
        let start = Snapshot { at: t0, total: 1000, qemu: 100, own: 10 };
        // 2 s at 100 ticks/s: 300 busy ticks, QEMU 180, the rig 20, so the
        // others used 100 ticks = 0.5 cores; QEMU 0.9 cores.
        let end = Snapshot { at: t0 + Duration::from_secs(2), total: 1300, qemu: 280, own: 30 };
        let load = HostLoad::between(&start, &end, 100.0).unwrap();
        assert!((load.window_s - 2.0).abs() < 1e-9);
        assert!((load.other_cores - 0.5).abs() < 1e-9);
        assert!((load.qemu_cores - 0.9).abs() < 1e-9);
    }

    #[test]
    fn load_is_clamped_and_degenerate_windows_are_none() {
        let t0 = Instant::now();
        let start = Snapshot { at: t0, total: 1000, qemu: 100, own: 10 };
        // Rounding made QEMU's share exceed the host's: clamped to 0.
        let end = Snapshot { at: t0 + Duration::from_secs(1), total: 1100, qemu: 203, own: 10 };
        assert_eq!(HostLoad::between(&start, &end, 100.0).unwrap().other_cores, 0.0);
        // An empty window, and counters that went backwards.
        assert_eq!(HostLoad::between(&start, &start, 100.0), None);
        let back = Snapshot { at: t0 + Duration::from_secs(1), total: 900, qemu: 100, own: 10 };
        assert_eq!(HostLoad::between(&start, &back, 100.0), None);
    }

    #[test]
    fn sampler_on_this_process() {
        // This very process stands in for QEMU: the read path works where
        // /proc exists, and a pid that cannot exist gives None.
        if std::fs::metadata("/proc/self/stat").is_err() {
            return;
        }
        let pid = std::process::id() as i32;
        let sampler = HostLoadSampler::start(pid).expect("/proc is readable");
        std::thread::sleep(Duration::from_millis(20));
        let load = sampler.finish().expect("the process is still there");
        assert!(load.other_cores >= 0.0 && load.window_s > 0.0);
        assert!(HostLoadSampler::start(-1).is_none());
        assert!(HostLoadSampler::start(i32::MAX).is_none());
    }

    #[test]
    fn host_load_serde_round_trip() {
        let load = HostLoad { other_cores: 0.25, window_s: 3.5, qemu_cores: 1.75 };
        let json = serde_json::to_string(&load).unwrap();
        assert_eq!(serde_json::from_str::<HostLoad>(&json).unwrap(), load);
    }
}
