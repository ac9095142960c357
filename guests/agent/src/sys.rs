//! The few system calls std does not wrap: the module syscalls, the
//! monotonic clock as a number, uname and the online CPU count.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use modrig_proto::UnloadFlags;

/// CLOCK_MONOTONIC in nanoseconds: the clock behind the kernel's
/// `ktime_get_ns`, so the host can put our events and kernel trace
/// timestamps on one axis. `Instant` uses the same clock but hides the value.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec. CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What one raw syscall did: its return value, errno when it failed, and
/// when it started and how long it took, both on CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub ret: i64,
    pub errno: Option<i32>,
    pub start_ns: u64,
    pub duration_ns: u64,
}

/// Runs `call` between two clock reads. errno is read straight after the
/// call, before the second clock read, so nothing can overwrite it.
fn timed(call: impl FnOnce() -> libc::c_long) -> Timed {
    let start_ns = monotonic_ns();
    let ret: i64 = call();
    let errno = if ret < 0 { io::Error::last_os_error().raw_os_error() } else { None };
    let end_ns = monotonic_ns();
    Timed { ret, errno, start_ns, duration_ns: end_ns - start_ns }
}

/// `finit_module(fd, params, 0)`, raw: no libc wrapper exists and we want
/// the kernel's own return value and errno.
pub fn finit_module(module: BorrowedFd<'_>, params: &CStr) -> Timed {
    let fd = module.as_raw_fd();
    // SAFETY: `fd` is open for the duration of the call and `params` is a
    // NUL-terminated string that outlives it.
    timed(|| unsafe { libc::syscall(libc::SYS_finit_module, fd, params.as_ptr(), 0 as libc::c_int) })
}

/// `delete_module(name, flags)`, raw, for the same reason.
pub fn delete_module(name: &CStr, flags: UnloadFlags) -> Timed {
    let bits = unload_flag_bits(flags);
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    timed(|| unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), bits) })
}

/// The `delete_module` flag bits: the kernel reads O_TRUNC as "force" and
/// O_NONBLOCK as "do not wait" (the latter ignored since v3.13).
pub fn unload_flag_bits(flags: UnloadFlags) -> libc::c_uint {
    let mut bits = 0;
    if flags.force {
        bits |= libc::O_TRUNC;
    }
    if flags.nonblock {
        bits |= libc::O_NONBLOCK;
    }
    bits as libc::c_uint
}

/// `uname -r`.
pub fn kernel_release() -> io::Result<String> {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is valid and writable.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel NUL-terminates every utsname field.
    let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
    Ok(release.to_string_lossy().into_owned())
}

/// Online CPUs, as the kernel counts them (not our affinity mask, which is
/// what `std::thread::available_parallelism` reports).
pub fn online_cpus() -> io::Result<u32> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if count < 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(count as u32)
}

/// The CPU this thread runs on now (`sched_getcpu`), if the kernel says.
pub fn current_cpu() -> Option<u32> {
    // SAFETY: sched_getcpu has no memory-safety preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).ok()
}

/// Pins the calling thread to `cpu`; the errno when the kernel refuses
/// (e.g. no such CPU online).
pub fn pin_to_cpu(cpu: u32) -> Result<(), i32> {
    if cpu as usize >= libc::CPU_SETSIZE as usize {
        return Err(libc::EINVAL);
    }
    // SAFETY: `set` is a plain bitmask we own, initialised by CPU_ZERO;
    // sched_setaffinity(0, ...) reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu as usize, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
        }
    }
    Ok(())
}

/// A string for the kernel: our inputs are JSON strings, which may hold a
/// NUL the kernel would silently cut at, so that is an error instead.
pub fn c_string(what: &str, value: &str) -> Result<CString, String> {
    CString::new(value).map_err(|_| format!("{what} {value:?} contains a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unload_flags_map_to_the_kernel_bits() {
        let bits = |force, nonblock| unload_flag_bits(UnloadFlags { force, nonblock });
        assert_eq!(bits(false, false), 0);
        assert_eq!(bits(true, false), libc::O_TRUNC as libc::c_uint);
        assert_eq!(bits(false, true), libc::O_NONBLOCK as libc::c_uint);
        assert_eq!(bits(true, true), (libc::O_TRUNC | libc::O_NONBLOCK) as libc::c_uint);
        // The values the kernel's delete_module checks on x86_64.
        assert_eq!(bits(true, true), 0o1000 | 0o4000);
    }

    #[test]
    fn strings_with_nul_do_not_reach_the_kernel() {
        assert_eq!(c_string("params", "a=1 b=2").unwrap().as_bytes(), b"a=1 b=2");
        assert!(c_string("params", "a=1\0b=2").unwrap_err().contains("NUL"));
    }

    #[test]
    fn the_clock_moves_forward() {
        let first = monotonic_ns();
        let second = monotonic_ns();
        assert!(second >= first);
    }

    #[test]
    fn a_failed_syscall_reports_its_errno() {
        // SAFETY: closing fd -1 only fails.
        let timed = timed(|| unsafe { libc::close(-1) } as libc::c_long);
        assert_eq!(timed.ret, -1);
        assert_eq!(timed.errno, Some(libc::EBADF));
    }
}
