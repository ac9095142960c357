//! `cargo xtask doctor`: check the host, install what is missing (on
//! Debian/Ubuntu), and print the table of what was found.

use anyhow::Result;
use clap::Args;
use xshell::Shell;

use crate::doctor::{check_and_install, render_table, Needs};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only report; do not install missing packages (also: MODRIG_NO_INSTALL=1)
    #[arg(long)]
    pub no_install: bool,
}

impl DoctorArgs {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let report = check_and_install(sh, Needs::Everything, self.no_install, &mut |line| println!("{line}"))?;
        println!("{}", render_table(&report));
        report.into_result()
    }
}
