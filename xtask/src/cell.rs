//! A cell of a matrix run: where it sits (variant × scenario × vCPUs ×
//! repetition, which is also its directory) and, once it has run, its
//! record. Plain data: the planner makes the keys, `results` reads the
//! cells back, the diff compares them.

use serde::{Deserialize, Serialize};

use crate::record::RunRecord;

/// Where a cell sits in the matrix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub variant: String,
    pub scenario: String,
    pub vcpus: u32,
    /// 1-based repetition.
    pub rep: u32,
}

impl CellKey {
    /// The cell's directory under a run's `cells/`, and its name in reports.
    pub fn rel_dir(&self) -> String {
        format!("{}/{}/{}cpu-r{}", self.variant, self.scenario, self.vcpus, self.rep)
    }
}

/// A finished cell: its place and its `verdict.json`.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub key: CellKey,
    pub record: RunRecord,
}
