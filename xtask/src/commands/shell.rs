//! `cargo xtask shell`: the guest's console, interactively, with the stress
//! modules in /modules.

use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;
use xshell::Shell;

use crate::commands::flags::GuestArgs;
use crate::guest::qemu::{self, Detectors, GuestSpec};
use crate::guest::reaper::GroupGuard;
use crate::prepare::prepare;
use crate::reporter::{self, Detail};

#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub guest: GuestArgs,
}

impl ShellArgs {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let prepared = prepare(sh, &self.guest.choice(), 2, reporter::for_command(false, Detail::Steps).as_ref())?;
        let args = qemu::qemu_args(&GuestSpec {
            accel: prepared.accel.accel,
            vcpus: prepared.vcpus,
            memory_mib: prepared.memory_mib,
            kernel: &prepared.kernel.bzimage,
            initrd: &prepared.initrd,
            channel_socket: None,
            // The init script starts a shell instead of the agent.
            cmdline: qemu::kernel_cmdline(Detectors::default(), &["modrig.shell".to_string()]),
        });
        eprintln!(
            "modrig shell: {} ({}), {} vCPUs, {}; Ctrl-A x quits QEMU, Ctrl-A b + key sends sysrq",
            prepared.kernel.variant, prepared.kernel.manifest.kernel_release, prepared.vcpus, prepared.accel.how
        );
        // QEMU stays in the terminal's process group so it can read the
        // keyboard; it is registered as a single process for the reaper.
        let mut child = Command::new("qemu-system-x86_64").args(&args).spawn().context("cannot start QEMU")?;
        let _guard = GroupGuard::process(child.id() as i32);
        let status = child.wait()?;
        eprintln!("modrig shell: QEMU exited ({status})");
        Ok(())
    }
}
