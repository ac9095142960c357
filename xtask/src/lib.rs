//! modrig's host side: everything `cargo xtask` does.
//!
//! See ARCHITECTURE.md at the workspace root for the bird's-eye view.

pub mod calibration;
pub mod cell;
pub mod classify;
pub mod commands;
pub mod diag;
pub mod diff;
pub mod diff_config;
pub mod doctor;
pub mod errno;
pub mod executor;
pub mod fsutil;
pub mod guest;
pub mod hashing;
pub mod inputs;
pub mod kernel;
pub mod kernel_event;
pub mod matrix;
pub mod matrix_job;
pub mod metrics;
pub mod outcome;
pub mod prepare;
pub mod progress;
pub mod project;
pub mod record;
pub mod report;
pub mod reporter;
pub mod results;
pub mod run_report;
pub mod scenario;
pub mod stats;
pub mod timefmt;
pub mod variant;
pub mod verdict;
pub mod yaml_loc;
