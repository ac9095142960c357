//! Finding and opening the host's virtio-serial port.
//!
//! The initramfs has no udev, so `/dev/virtio-ports/<name>` never appears.
//! The kernel still publishes each port's name in
//! `/sys/class/virtio-ports/vportXpY/name`, and devtmpfs creates the node
//! `/dev/vportXpY` under the same name as the sysfs directory.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

pub const SYSFS_PORTS: &str = "/sys/class/virtio-ports";

/// How long the port may take to appear: virtio probing is asynchronous
/// to init, and under TCG it can lag behind userspace by a moment.
pub const PORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the host may take to open its end of the socket. The host
/// connects right after it starts QEMU, long before the guest has booted,
/// so this only fires when nobody is listening at all.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(30);

const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The sysfs directory name (`vport1p1`) of the port called `name`, if
/// any. The kernel prints a port's name followed by a newline, and
/// `(null)` until the host has sent it.
pub fn find_port(sysfs_ports: &Path, name: &str) -> io::Result<Option<String>> {
    for entry in fs::read_dir(sysfs_ports)? {
        let entry = entry?;
        // A port can vanish (hot-unplug) between listing and reading.
        let Ok(port_name) = fs::read_to_string(entry.path().join("name")) else { continue };
        if port_name.trim_end_matches('\n') == name {
            return Ok(Some(entry.file_name().to_string_lossy().into_owned()));
        }
    }
    Ok(None)
}

/// Every `vportXpY=name` pair under `sysfs_ports`, for the error message
/// when ours never appears.
fn describe_ports(sysfs_ports: &Path) -> String {
    let Ok(entries) = fs::read_dir(sysfs_ports) else {
        return format!("{} does not exist (is CONFIG_VIRTIO_CONSOLE set?)", sysfs_ports.display());
    };
    let mut ports: Vec<String> = entries
        .flatten()
        .map(|entry| {
            let port_name = fs::read_to_string(entry.path().join("name")).unwrap_or_default();
            format!("{}={}", entry.file_name().to_string_lossy(), port_name.trim_end())
        })
        .collect();
    ports.sort();
    if ports.is_empty() {
        "no ports at all (are -device virtio-serial-pci and -device virtserialport,name=... on the QEMU command line?)"
            .to_owned()
    } else {
        format!("ports seen: {}", ports.join(", "))
    }
}

/// Waits for the port called `name` and its device node, then opens it
/// for reading and writing.
pub fn open_port(sysfs_ports: &Path, dev: &Path, name: &str, timeout: Duration) -> Result<File, String> {
    let deadline = Instant::now() + timeout;
    let node: PathBuf = loop {
        // Until the virtio-serial device is probed, the class directory
        // itself is missing: that is "not yet", not an error.
        let node = find_port(sysfs_ports, name).ok().flatten().map(|dir_name| dev.join(dir_name));
        if let Some(node) = &node {
            if node.exists() {
                break node.clone();
            }
        }
        if Instant::now() >= deadline {
            return Err(match node {
                Some(node) => format!(
                    "virtio-serial port {name:?} exists but {} did not appear within {} s (is devtmpfs mounted?)",
                    node.display(),
                    timeout.as_secs_f32(),
                ),
                None => format!(
                    "no virtio-serial port named {name:?} within {} s under {}: {}",
                    timeout.as_secs_f32(),
                    sysfs_ports.display(),
                    describe_ports(sysfs_ports),
                ),
            });
        }
        thread::sleep(POLL_INTERVAL);
    };
    OpenOptions::new().read(true).write(true).open(&node).map_err(|e| format!("cannot open {}: {e}", node.display()))
}

/// Waits until the host has its end of the port open.
///
/// Until then the kernel makes reads return 0 (which would look like the
/// host hanging up) and blocks writes silently; waiting here instead turns
/// a missing host into a message on the console.
pub fn wait_for_host(port: &File, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut pollfd = libc::pollfd { fd: port.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd; timeout 0 makes this a non-blocking check.
        // We cannot block in poll: POLLHUP ("host not connected") is always
        // reported at once, so there is nothing to wait on but the clock.
        let ready = unsafe { libc::poll(&mut pollfd, 1, 0) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(format!("poll on the port failed: {error}"));
            }
        } else if pollfd.revents & libc::POLLHUP == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("the host did not open its end of the port within {} s", timeout.as_secs_f32()));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory that removes itself.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("modrig-agent-{test}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn port(&self, dir_name: &str, name: &str) {
            let dir = self.0.join("sys").join(dir_name);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn finds_the_port_by_its_sysfs_name() {
        let scratch = Scratch::new("find");
        scratch.port("vport0p0", "(null)");
        scratch.port("vport1p1", "org.qemu.guest_agent.0");
        scratch.port("vport1p2", "modrig");
        let sys = scratch.0.join("sys");
        assert_eq!(find_port(&sys, "modrig").unwrap(), Some("vport1p2".to_owned()));
        assert_eq!(find_port(&sys, "modri").unwrap(), None);
        assert!(find_port(&scratch.0.join("missing"), "modrig").is_err());
    }

    #[test]
    fn opens_the_device_node_named_after_the_sysfs_directory() {
        let scratch = Scratch::new("open");
        scratch.port("vport2p1", "modrig");
        let dev = scratch.0.join("dev");
        fs::create_dir_all(&dev).unwrap();
        fs::write(dev.join("vport2p1"), "").unwrap();
        assert!(open_port(&scratch.0.join("sys"), &dev, "modrig", Duration::ZERO).is_ok());
    }

    #[test]
    fn a_missing_port_times_out_with_what_was_seen() {
        let scratch = Scratch::new("timeout");
        scratch.port("vport0p1", "other");
        let dev = scratch.0.join("dev");
        let error = open_port(&scratch.0.join("sys"), &dev, "modrig", Duration::from_millis(50)).unwrap_err();
        assert!(error.contains(r#"no virtio-serial port named "modrig""#), "{error}");
        assert!(error.contains("vport0p1=other"), "{error}");
    }

    #[test]
    fn a_port_without_its_device_node_times_out() {
        let scratch = Scratch::new("nonode");
        scratch.port("vport0p1", "modrig");
        let error = open_port(&scratch.0.join("sys"), &scratch.0.join("dev"), "modrig", Duration::ZERO).unwrap_err();
        assert!(error.contains("vport0p1 did not appear"), "{error}");
    }
}
