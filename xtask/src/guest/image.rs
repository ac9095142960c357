//! Building what boots: the static agent and each variant's initramfs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::initramfs;
use crate::doctor::is_static_elf;
use crate::fsutil::write_atomic;
use crate::hashing::sha256_hex;
use crate::kernel::build::BuiltKernel;
use crate::kernel::failure::{BuildPart, FailedIn};
use crate::kernel::{runlog, usermod};
use crate::project;

/// The guest binaries are built for this target with a static C runtime:
/// the initramfs has no libc.
const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds `guests/agent` as a static binary (cargo makes this a no-op when
/// nothing changed) and returns its path. cargo's output goes to
/// `target/guest/agent-build.log`; a failure is a [`BuildPart::Agent`]
/// failure carrying that log.
pub fn build_agent(sh: &Shell) -> Result<PathBuf> {
    // A target directory of its own: RUSTFLAGS differ from the host build's,
    // and sharing one directory would rebuild both every time.
    let target_dir = project::root().join("target/guest");
    fs::create_dir_all(&target_dir).with_context(|| format!("cannot create {}", target_dir.display()))?;
    // One log for every process: cargo's lock on the target directory
    // serialises concurrent builds, so a failure's tail is its own.
    let log = target_dir.join("agent-build.log");
    fs::write(&log, "modrig build of the guest agent (guests/agent)\n")
        .with_context(|| format!("cannot write {}", log.display()))?;
    build_static_agent(sh, &target_dir, &log).failed_in(BuildPart::Agent, Some(&log))
}

fn build_static_agent(sh: &Shell, target_dir: &Path, log: &Path) -> Result<PathBuf> {
    let cargo: std::process::Command =
        cmd!(sh, "cargo build --release -p modrig-agent --target {GUEST_TARGET} --target-dir {target_dir}")
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .into();
    runlog::run_logged(cargo, "cargo build -p modrig-agent", log, |_, _| {})?;
    let agent = target_dir.join(GUEST_TARGET).join("release/modrig-agent");
    let bytes = fs::read(&agent).with_context(|| format!("agent binary missing at {}", agent.display()))?;
    if !is_static_elf(&bytes) {
        bail!("{} is dynamically linked; the initramfs has no libc", agent.display());
    }
    Ok(agent)
}

/// The static busybox that doctor checked for.
pub fn busybox() -> Result<PathBuf> {
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = Path::new(candidate);
        if path.is_file() && fs::read(path).map(|b| is_static_elf(&b)).unwrap_or(false) {
            return Ok(path.to_path_buf());
        }
    }
    bail!("no static busybox found: run `cargo xtask doctor` (package busybox-static)")
}

/// The variant's initramfs (busybox, agent, its stress modules and the
/// user's, init),
/// stored in the kernel's cache directory under the hash of its bytes. A
/// failure is a [`BuildPart::Initramfs`] failure (without a log: the archive
/// is written in process, and the error says what was missing).
pub fn initramfs_for(kernel: &BuiltKernel, agent: &Path) -> Result<PathBuf> {
    write_initramfs(kernel, agent).failed_in(BuildPart::Initramfs, None)
}

fn write_initramfs(kernel: &BuiltKernel, agent: &Path) -> Result<PathBuf> {
    let busybox = busybox()?;
    let mut modules: Vec<PathBuf> = fs::read_dir(&kernel.modules_dir)
        .with_context(|| format!("cannot read the stress modules in {}", kernel.modules_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ko"))
        .collect();
    modules.sort();
    // The guest has one /modules/NAME.ko: a user's module may not shadow
    // a stress module (inputs::known_modules says so before any build).
    for dir in &kernel.user_modules {
        for ko in usermod::ko_files(dir)? {
            if modules.iter().any(|m| m.file_name() == ko.file_name()) {
                bail!("{} is built twice (by guests/modules and by a module directory)", ko.display());
            }
            modules.push(ko);
        }
    }
    let in_tree = (!kernel.in_tree.modules.is_empty())
        .then(|| (kernel.manifest.kernel_release.clone(), kernel.in_tree.dir.clone()));
    let inputs = initramfs::Inputs { busybox: &busybox, agent, modules, in_tree };
    let bytes = initramfs::cpio(&initramfs::entries(&inputs)?);
    let path = kernel.dir.join(format!("initramfs-{}.cpio", &sha256_hex(&bytes)[..16]));
    if !path.is_file() {
        write_atomic(&path, &bytes)?;
    }
    Ok(path)
}
