//! `cargo xtask bench`: performance figures, printed, never asserted.
use anyhow::Result;
use clap::Subcommand;
use xshell::Shell;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Cold build, warm no-op, and one-line patch rebuild times
    Build,
}

impl BenchCommand {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        anyhow::bail!("todo")
    }
}
