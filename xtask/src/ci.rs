//! `cargo xtask ci`.
use anyhow::Result;
use clap::Args;
use xshell::Shell;

#[derive(Debug, Args)]
pub struct CiArgs {}

impl CiArgs {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        anyhow::bail!("todo")
    }
}
