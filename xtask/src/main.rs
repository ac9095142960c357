//! `cargo xtask`: parse the command line, dispatch, nothing else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xshell::Shell;

use xtask::{bench, ci, doctor, kernel, project};

/// modrig: build baseline and patched kernels, boot them under QEMU, race
/// module load/unload against refcount traffic, and diff what changed.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the host (QEMU, busybox, kernel build tools, source) and install what is missing
    Doctor(doctor::DoctorArgs),
    /// Build kernel variants (source + patches + Kconfig fragments) into the cache
    #[command(subcommand)]
    Kernel(kernel::KernelCommand),
    /// Run one scenario on one variant in a QEMU guest (not yet)
    Run,
    /// Run the whole matrix (variants x scenarios x vCPUs x repetitions) and report (not yet)
    Matrix,
    /// Check scenario and matrix files for errors (not yet)
    Validate,
    /// Re-render the report of a finished run (not yet)
    Report,
    /// Compare two runs (not yet)
    Diff,
    /// Find the commit that broke module unload with git bisect (not yet)
    Bisect,
    /// Open an interactive console in a guest with the stress modules (not yet)
    Shell,
    /// Print performance figures (build; boot and matrix later)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run everything CI runs: format, lints, unit tests, end-to-end tests
    Ci(ci::CiArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(project::root());
        match cli.command {
            Command::Doctor(args) => args.run(&sh),
            Command::Kernel(command) => command.run(&sh),
            Command::Bench(command) => command.run(&sh),
            Command::Ci(args) => args.run(&sh),
            Command::Run => not_yet("run"),
            Command::Matrix => not_yet("matrix"),
            Command::Validate => not_yet("validate"),
            Command::Report => not_yet("report"),
            Command::Diff => not_yet("diff"),
            Command::Bisect => not_yet("bisect"),
            Command::Shell => not_yet("shell"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn not_yet(name: &str) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask {name}` is not implemented yet (see the open issues)")
}
