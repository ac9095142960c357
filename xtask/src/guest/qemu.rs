//! QEMU's command line and the guest kernel's, from small pure functions.
//!
//! Each function returns the arguments for one concern so that a test can
//! pin it down and a reader can see what the guest looks like.

use std::path::Path;

pub use crate::record::Accel;

/// Everything that decides a guest's QEMU command line.
#[derive(Debug, Clone)]
pub struct GuestSpec<'a> {
    pub accel: Accel,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The unix socket the host listens on for the agent's channel (none for
    /// the interactive shell, which has no agent).
    pub channel_socket: Option<&'a Path>,
    pub cmdline: String,
}

pub fn accel_args(accel: Accel) -> Vec<String> {
    match accel {
        // `-cpu host` exposes the host's real CPU (and its TSC) to the guest.
        Accel::Kvm => strings(&["-accel", "kvm", "-cpu", "host"]),
        // One host thread per vCPU: without it, TCG runs all vCPUs on one
        // thread and "other CPUs" never run at the same time.
        // QEMU's default CPU model is kept for TCG: the fewer optional
        // features, the less runtime code patching at boot.
        Accel::Tcg => strings(&["-accel", "tcg,thread=multi"]),
    }
}

pub fn smp_args(vcpus: u32) -> Vec<String> {
    vec!["-smp".into(), vcpus.to_string()]
}

pub fn memory_args(mib: u32) -> Vec<String> {
    vec!["-m".into(), format!("{mib}M")]
}

pub fn kernel_args(kernel: &Path, initrd: &Path, cmdline: &str) -> Vec<String> {
    vec![
        "-kernel".into(),
        kernel.display().to_string(),
        "-initrd".into(),
        initrd.display().to_string(),
        "-append".into(),
        cmdline.to_string(),
    ]
}

/// The serial console and QEMU's monitor share stdio: the host reads the
/// console through a pty and sends a serial BREAK (`Ctrl-A b`) for sysrq.
pub fn console_args() -> Vec<String> {
    strings(&["-display", "none", "-serial", "mon:stdio"])
}

/// A virtio-serial port that QEMU connects to the host's socket: the agent's
/// events never interleave with kernel messages.
pub fn channel_args(socket: &Path) -> Vec<String> {
    vec![
        "-device".into(),
        "virtio-serial-pci".into(),
        "-chardev".into(),
        format!("socket,id=modrig,path={}", socket.display()),
        "-device".into(),
        format!("virtserialport,chardev=modrig,name={}", modrig_proto::PORT_NAME),
    ]
}

/// No network, and a guest reboot (panic=-1, poweroff) ends QEMU.
pub fn isolation_args() -> Vec<String> {
    strings(&["-nic", "none", "-no-reboot", "-nodefaults", "-no-user-config"])
}

pub fn qemu_args(spec: &GuestSpec<'_>) -> Vec<String> {
    [
        accel_args(spec.accel),
        smp_args(spec.vcpus),
        memory_args(spec.memory_mib),
        kernel_args(spec.kernel, spec.initrd, &spec.cmdline),
        console_args(),
        spec.channel_socket.map(channel_args).unwrap_or_default(),
        isolation_args(),
    ]
    .concat()
}

/// Thresholds of the guest's own hang detectors, in seconds. They fire in
/// this order (RCU stall < soft lockup < hung task), all well before the
/// rig's own deadline, so a hang is reported by the kernel with a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detectors {
    pub rcu_stall_secs: u32,
    /// The soft lockup detector fires after twice this.
    pub watchdog_thresh_secs: u32,
    pub hung_task_secs: u32,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors { rcu_stall_secs: 5, watchdog_thresh_secs: 4, hung_task_secs: 10 }
    }
}

/// The guest kernel's command line.
pub fn kernel_cmdline(detectors: Detectors, extra: &[String]) -> String {
    let mut args = vec![
        "console=ttyS0".to_string(),
        // Reboot at once on panic; with -no-reboot, QEMU then exits.
        "panic=-1".to_string(),
        "oops=panic".to_string(),
        "panic_on_warn=0".to_string(),
        "sysrq_always_enabled=1".to_string(),
        format!("rcupdate.rcu_cpu_stall_timeout={}", detectors.rcu_stall_secs),
        format!("watchdog_thresh={}", detectors.watchdog_thresh_secs),
        format!("sysctl.kernel.hung_task_timeout_secs={}", detectors.hung_task_secs),
        // Report every hung task, not only the first ten.
        "sysctl.kernel.hung_task_warnings=-1".to_string(),
        // Userspace writes to /dev/kmsg are not rate-limited away.
        "printk.devkmsg=on".to_string(),
    ];
    args.extend(extra.iter().cloned());
    args.join(" ")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accel_tcg_is_multithreaded() {
        assert_eq!(accel_args(Accel::Tcg), ["-accel", "tcg,thread=multi"]);
        assert_eq!(accel_args(Accel::Kvm), ["-accel", "kvm", "-cpu", "host"]);
    }

    #[test]
    fn small_pieces() {
        assert_eq!(smp_args(4), ["-smp", "4"]);
        assert_eq!(memory_args(512), ["-m", "512M"]);
        assert_eq!(console_args(), ["-display", "none", "-serial", "mon:stdio"]);
        assert_eq!(isolation_args(), ["-nic", "none", "-no-reboot", "-nodefaults", "-no-user-config"]);
        assert_eq!(
            channel_args(Path::new("/r/ch.sock")),
            [
                "-device",
                "virtio-serial-pci",
                "-chardev",
                "socket,id=modrig,path=/r/ch.sock",
                "-device",
                "virtserialport,chardev=modrig,name=modrig"
            ]
        );
        assert_eq!(
            kernel_args(Path::new("/k/bzImage"), Path::new("/k/initrd"), "console=ttyS0"),
            ["-kernel", "/k/bzImage", "-initrd", "/k/initrd", "-append", "console=ttyS0"]
        );
    }

    #[test]
    fn cmdline_has_console_panic_detectors_and_sysrq() {
        let line = kernel_cmdline(Detectors::default(), &["rcupdate.rcu_expedited=1".to_string()]);
        assert_eq!(
            line,
            "console=ttyS0 panic=-1 oops=panic panic_on_warn=0 sysrq_always_enabled=1 \
             rcupdate.rcu_cpu_stall_timeout=5 watchdog_thresh=4 sysctl.kernel.hung_task_timeout_secs=10 \
             sysctl.kernel.hung_task_warnings=-1 printk.devkmsg=on rcupdate.rcu_expedited=1"
        );
    }

    #[test]
    fn full_command_line_is_the_concatenation() {
        let spec = GuestSpec {
            accel: Accel::Tcg,
            vcpus: 2,
            memory_mib: 256,
            kernel: Path::new("/k"),
            initrd: Path::new("/i"),
            channel_socket: Some(Path::new("/s")),
            cmdline: "console=ttyS0".into(),
        };
        let args = qemu_args(&spec);
        assert_eq!(&args[..2], ["-accel", "tcg,thread=multi"]);
        assert!(args.windows(2).any(|w| w == ["-smp", "2"]));
        assert!(args.windows(2).any(|w| w == ["-nic", "none"]));
        assert!(args.contains(&"-no-reboot".to_string()));
    }
}
