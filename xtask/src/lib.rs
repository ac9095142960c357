//! modrig's host side: everything `cargo xtask` does.
//!
//! See ARCHITECTURE.md at the workspace root for the bird's-eye view.

pub mod bench;
pub mod bisect;
pub mod calibrate;
pub mod calibration;
pub mod cell;
pub mod ci;
pub mod ci_examples;
pub mod classify;
pub mod compare;
pub mod diag;
pub mod diff;
pub mod diff_config;
pub mod doctor;
pub mod errno;
pub mod fsutil;
pub mod guest;
pub mod hashing;
pub mod kernel;
pub mod kernel_event;
pub mod matrix;
pub mod matrix_run;
pub mod metrics;
pub mod outcome;
pub mod programs;
pub mod project;
pub mod record;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod shell;
pub mod stats;
pub mod timefmt;
pub mod validate;
pub mod variant;
pub mod verdict;
pub mod yaml_loc;
