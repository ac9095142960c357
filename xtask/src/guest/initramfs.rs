//! The guest's initramfs: busybox, the agent, the stress modules, an init.
//!
//! Written as an uncompressed cpio "newc" archive by hand: the kernel
//! unpacks it without a decompressor, and fixed metadata (mtime 0, root
//! owner, sorted names, sequential inodes) makes it reproducible — the
//! same inputs give the same bytes, so it is cached by content.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File {
        data: Vec<u8>,
        executable: bool,
    },
    Symlink(String),
    /// A character device node (e.g. /dev/console, needed before devtmpfs).
    CharDevice {
        major: u32,
        minor: u32,
    },
}

/// Writes `entries` (path without leading slash -> entry) as a newc archive.
/// Parent directories must be listed; a `BTreeMap` sorts parents first.
pub fn cpio(entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, (name, entry)) in entries.iter().enumerate() {
        let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
            Entry::Dir => (0o040755, &[], (0, 0)),
            Entry::File { data, executable } => (if *executable { 0o100755 } else { 0o100644 }, data, (0, 0)),
            Entry::Symlink(target) => (0o120777, target.as_bytes(), (0, 0)),
            Entry::CharDevice { major, minor } => (0o020600, &[], (*major, *minor)),
        };
        let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
        push_member(&mut out, index as u32 + 1, mode, nlink, rdev, name, data);
    }
    push_member(&mut out, 0, 0, 1, (0, 0), "TRAILER!!!", &[]);
    out
}

fn push_member(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, rdev: (u32, u32), name: &str, data: &[u8]) {
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The guest's /init: mount the pseudo file systems, say we are up, then run
/// the agent (or a shell, for `cargo xtask shell`) and power off.
pub const INIT_SCRIPT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo MODRIG-INIT-READY
if grep -q modrig.shell /proc/cmdline; then
    echo "modrig shell: the stress modules (and yours, with --modules) are in /modules, the kernel's own in /lib/modules (modprobe null_blk); 'poweroff -f' or Ctrl-A x ends the guest"
    setsid cttyhack sh -l
else
    /bin/modrig-agent
fi
poweroff -f
"#;

/// What goes into a guest image.
pub struct Inputs<'a> {
    pub busybox: &'a Path,
    pub agent: &'a Path,
    /// `*.ko` files, placed in /modules.
    pub modules: Vec<PathBuf>,
    /// The kernel's own modules: `(release, directory)`, placed in
    /// /lib/modules/<release> with their `modules.dep`.
    pub in_tree: Option<(String, PathBuf)>,
}

/// The archive's members for `inputs`.
pub fn entries(inputs: &Inputs<'_>) -> Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    for dir in ["bin", "dev", "modules", "proc", "sys", "tmp"] {
        entries.insert(dir.to_string(), Entry::Dir);
    }
    entries.insert("dev/console".into(), Entry::CharDevice { major: 5, minor: 1 });
    entries.insert("init".into(), Entry::File { data: INIT_SCRIPT.as_bytes().to_vec(), executable: true });
    let read = |p: &Path| fs::read(p).with_context(|| format!("cannot read {} for the initramfs", p.display()));
    entries.insert("bin/busybox".into(), Entry::File { data: read(inputs.busybox)?, executable: true });
    entries.insert("bin/modrig-agent".into(), Entry::File { data: read(inputs.agent)?, executable: true });
    for module in &inputs.modules {
        let name = module.file_name().context("module path without a file name")?.to_string_lossy();
        entries.insert(format!("modules/{name}"), Entry::File { data: read(module)?, executable: false });
    }
    if let Some((release, dir)) = &inputs.in_tree {
        add_tree(&mut entries, &format!("lib/modules/{release}"), dir)?;
    }
    Ok(entries)
}

/// Adds the regular files under `dir` as `prefix/...`, with every parent
/// directory. Symbolic links (`modules_install`'s `build` and `source`,
/// which point at the build host's trees) are left out.
fn add_tree(entries: &mut BTreeMap<String, Entry>, prefix: &str, dir: &Path) -> Result<()> {
    let mut parent = String::new();
    for part in prefix.split('/') {
        parent = if parent.is_empty() { part.to_string() } else { format!("{parent}/{part}") };
        entries.insert(parent.clone(), Entry::Dir);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {} for the initramfs", dir.display()))? {
        let entry = entry?;
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            add_tree(entries, &name, &entry.path())?;
        } else if kind.is_file() {
            let data = fs::read(entry.path()).with_context(|| format!("cannot read {}", entry.path().display()))?;
            entries.insert(name, Entry::File { data, executable: false });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout_is_exact() {
        let mut entries = BTreeMap::new();
        entries.insert("a".to_string(), Entry::File { data: b"hi".to_vec(), executable: false });
        let bytes = cpio(&entries);
        let header = std::str::from_utf8(&bytes[..110]).unwrap();
        let fields = [
            "00000001", // ino
            "000081A4", // mode: regular file 0644
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "00000000", // mtime
            "00000002", // file size
            "00000000", // dev major
            "00000000", // dev minor
            "00000000", // rdev major
            "00000000", // rdev minor
            "00000002", // name size, with its NUL
            "00000000", // check
        ];
        assert_eq!(header, format!("070701{}", fields.concat()));
        // name "a\0" padded to 4 after the 110-byte header: 112, then data "hi" + 2 pad.
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..116], b"hi\0\0");
        assert_eq!(&bytes[116..122], b"070701");
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
        assert!(bytes.len().is_multiple_of(4));
    }

    #[test]
    fn the_kernels_own_modules_go_under_lib_modules_without_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("kernel/drivers/block")).unwrap();
        fs::write(dir.path().join("kernel/drivers/block/brd.ko"), b"ko").unwrap();
        fs::write(dir.path().join("modules.dep"), b"kernel/drivers/block/brd.ko:\n").unwrap();
        std::os::unix::fs::symlink("/nonexistent/build/tree", dir.path().join("build")).unwrap();
        let mut entries = BTreeMap::new();
        add_tree(&mut entries, "lib/modules/6.12.117+", dir.path()).unwrap();
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "lib",
                "lib/modules",
                "lib/modules/6.12.117+",
                "lib/modules/6.12.117+/kernel",
                "lib/modules/6.12.117+/kernel/drivers",
                "lib/modules/6.12.117+/kernel/drivers/block",
                "lib/modules/6.12.117+/kernel/drivers/block/brd.ko",
                "lib/modules/6.12.117+/modules.dep",
            ]
        );
    }

    #[test]
    fn init_prints_the_boot_marker_the_host_waits_for() {
        assert!(INIT_SCRIPT.contains(&format!("echo {}", modrig_proto::BOOT_MARKER)));
    }

    #[test]
    fn same_inputs_same_bytes() {
        let mut a = BTreeMap::new();
        a.insert("bin".to_string(), Entry::Dir);
        a.insert("bin/sh".to_string(), Entry::Symlink("busybox".into()));
        a.insert("dev/console".to_string(), Entry::CharDevice { major: 5, minor: 1 });
        let b = a.clone();
        assert_eq!(cpio(&a), cpio(&b));
        let mut c = a.clone();
        c.insert("bin/sh".to_string(), Entry::Symlink("other".into()));
        assert_ne!(cpio(&a), cpio(&c));
    }
}
