//! modrig's host side: everything `cargo xtask` does.
//!
//! See ARCHITECTURE.md at the workspace root for the bird's-eye view.

pub mod bench;
pub mod ci;
pub mod diag;
pub mod doctor;
pub mod fsutil;
pub mod kernel;
pub mod matrix;
pub mod project;
pub mod yaml_loc;
