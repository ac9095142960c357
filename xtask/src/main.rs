//! `cargo xtask`: parse the command line, dispatch, nothing else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xshell::Shell;

use xtask::commands::{
    bench, bisect, calibrate, ci, diff, doctor, kernel, matrix, merge, report, run, shell, validate,
};
use xtask::project;
use xtask::verdict::Verdict;

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
    /// Run one scenario on one variant in a QEMU guest; exit code = verdict
    Run(run::RunArgs),
    /// Run the whole matrix (variants x scenarios x vCPUs x repetitions), diff and report
    Matrix(matrix::MatrixArgs),
    /// Check scenario files (and the matrix file) for errors, without booting anything
    Validate(validate::ValidateArgs),
    /// Compare one kernel with itself (A/A): between-boot spread, false alarms, smallest detectable change
    Calibrate(calibrate::CalibrateArgs),
    /// Re-render the reports of a matrix run from its stored results
    Report(report::ReportArgs),
    /// Compare two runs (e.g. yesterday's candidate with today's)
    Diff(diff::DiffArgs),
    /// Join the run directories of matrix shards into one run and report it
    Merge(merge::MergeArgs),
    /// Find the commit that broke module unload (git bisect in a clone, incremental builds)
    Bisect(bisect::BisectArgs),
    /// Open an interactive console in a guest with the stress modules
    Shell(shell::ShellArgs),
    /// Print performance figures (build, boot; matrix later)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run everything CI runs: format, lints, unit tests, end-to-end tests
    Ci(ci::CiArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_run = matches!(cli.command, Command::Run(_));
    let is_bisect_step = matches!(&cli.command, Command::Bisect(args) if args.step);
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(project::root());
        let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
        match cli.command {
            Command::Run(args) => args.run(&sh),
            Command::Doctor(args) => done(args.run(&sh)),
            Command::Kernel(command) => done(command.run(&sh)),
            Command::Bench(command) => done(command.run(&sh)),
            Command::Ci(args) => done(args.run(&sh)),
            Command::Matrix(args) => args.run(&sh),
            Command::Calibrate(args) => args.run(&sh),
            Command::Validate(args) => done(args.run(&sh)),
            Command::Report(args) => args.run(),
            Command::Diff(args) => args.run(),
            Command::Merge(args) => args.run(),
            Command::Bisect(args) => args.run(&sh),
            Command::Shell(args) => done(args.run(&sh)),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            // A run that could not even start is the rig's failure, and
            // says so with the INFRA exit code rather than a FAIL-like 1;
            // but bad input (a scenario with errors, a module its kernel
            // lacks, a module directory of the user's that does not
            // compile: the error shows the compiler's) is not INFRA.
            let users_module = error
                .downcast_ref::<xtask::kernel::failure::BuildFailure>()
                .is_some_and(|failure| failure.part == xtask::progress::BuildPart::UserModules);
            if is_run && !users_module && !xtask::diag::is_bad_input(&error) {
                eprintln!("verdict: {}", Verdict::Infra);
                ExitCode::from(Verdict::Infra.exit_code())
            } else if is_bisect_step {
                // Under `git bisect run`, 1 would mean "bad": a rig that
                // cannot test must abort the bisect instead (>= 128).
                ExitCode::from(bisect::ABORT_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
