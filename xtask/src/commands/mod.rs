//! The subcommands of `cargo xtask`, one module each. Only these modules
//! know clap; they turn flags into the options of the layers below and call
//! them. A command never calls another command: what two commands share
//! lives below them (e.g. `matrix_job`, `run_report`), and flags that
//! several take are defined once, in `flags`.

pub mod bench;
pub mod bisect;
pub mod calibrate;
pub mod ci;
pub mod diff;
pub mod doctor;
pub mod flags;
pub mod kernel;
pub mod matrix;
pub mod merge;
pub mod report;
pub mod run;
pub mod shell;
pub mod validate;
