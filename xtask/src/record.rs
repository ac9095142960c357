//! `verdict.json`: what one cell's run was and what it found. Plain data,
//! written by the cell executor, read by the diff, the reports, resume and
//! merge.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kernel_event::KernelEvent;
use crate::metrics::Metrics;
use crate::outcome::{RunEnd, Verdict};

/// The file name of a cell's record, in its directory.
pub const VERDICT_FILE: &str = "verdict.json";

/// The version of [`RunRecord`]'s format (`schema` in every record).
pub const RUN_RECORD_SCHEMA: u32 = 1;

/// `verdict.json` of a run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub scenario: String,
    pub variant: String,
    pub kernel_key: String,
    pub kernel_release: String,
    pub vcpus: u32,
    pub accel: AccelDecision,
    pub end: RunEnd,
    pub boot_to_init_ms: Option<f64>,
    pub boot_to_ready_ms: Option<f64>,
    pub wall_ms: f64,
    pub kernel_events: Vec<KernelEvent>,
    /// What a scenario measured (built-in programs measure nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    pub console_log: PathBuf,
    pub events_log: PathBuf,
    /// Other processes' CPU use on the host while the scenario ran, in host
    /// cores (absent when it could not be measured, and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_load: Option<HostLoad>,
    /// The boot this cell shared with others (absent when it had a boot of
    /// its own, and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootRef>,
}

/// Where a cell sat in a boot that several cells shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRef {
    /// The whole boot's console (the cell's own `console_log` is its part).
    pub console_log: PathBuf,
    /// 0 for the boot's first cell, which also paid for the boot.
    pub position: u32,
}

/// How the guest's CPUs are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The accelerator a run uses and how it was chosen (recorded in results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelDecision {
    pub accel: Accel,
    pub how: String,
}

/// Host CPU use over one measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostLoad {
    /// Host cores that processes other than this guest's QEMU and the rig
    /// kept busy, on average over the window (0.0 = an idle host; on a
    /// 2-core host, 1.0 = one core's worth of competition).
    pub other_cores: f64,
    /// How long the window was, in seconds.
    pub window_s: f64,
    /// Host cores this guest's QEMU used over the window (all its threads).
    pub qemu_cores: f64,
}
