//! A matrix run on disk:
//!
//! ```text
//! results/<run-id>/
//!   manifest.json              inputs (hashes), host, shard, planned cells
//!   cells/<variant>/<scenario>/<N>cpu-r<R>/
//!     verdict.json console.log events.jsonl qemu.argv
//!   report.md summary.json junit.xml report.html
//! ```
//!
//! A cell is finished when its `verdict.json` exists: it is written last and
//! atomically, so `--resume` reruns exactly the cells without one. Run
//! directories are created exclusively, so two runs never share one.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::diff::{CellKey, CellResult, DiffConfig};
use crate::fsutil::write_atomic;
use crate::guest::accel::AccelDecision;
use crate::hashing::sha256_hex;
use crate::matrix::plan::Shard;
use crate::record::{RunRecord, RUN_RECORD_SCHEMA, VERDICT_FILE};
use crate::timefmt;

pub const MANIFEST_SCHEMA: u32 = 1;
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json` of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub run_id: String,
    pub created_utc: String,
    /// The rig's version and git commit (with `-dirty` for local changes).
    pub rig: String,
    pub host: HostRecord,
    /// Everything that decides what the cells measure; a resume or a merge
    /// requires it to be identical.
    pub inputs: Inputs,
    pub shard: Option<Shard>,
    /// For a merged run: the runs it joined, with their shards and hosts.
    #[serde(default)]
    pub merged_from: Vec<MergedRun>,
    /// The cells this run is to have (its shard's, when sharded).
    pub cells: Vec<CellKey>,
    /// The order the cells start in: correctness cells first, then the
    /// timing cells one at a time, the two sides of each comparison in
    /// ABBA order across repetitions.
    #[serde(default)]
    pub order: Vec<CellKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    pub kernel: String,
    pub qemu: String,
    pub cores: usize,
    pub accel: AccelDecision,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRun {
    pub run_id: String,
    pub shard: Option<Shard>,
    pub host: HostRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    pub matrix_file: PathBuf,
    pub matrix_sha256: String,
    pub baseline: String,
    pub candidate: String,
    pub variants: Vec<VariantInputs>,
    pub scenarios: Vec<FileHash>,
    pub vcpus: Vec<u32>,
    pub repetitions: u32,
    pub diff: DiffConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantInputs {
    pub name: String,
    /// The kernel cache key: source identity, patches, merged config,
    /// toolchain and build recipe in one hash.
    pub kernel_key: String,
    pub kernel_release: String,
    pub source: String,
    pub source_identity: String,
    pub patches: Vec<FileHash>,
    pub configs: Vec<FileHash>,
    /// The stress modules' build (their sources and the kernel's key).
    pub modules_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: PathBuf,
    pub sha256: String,
}

impl FileHash {
    pub fn of(path: &Path) -> Result<FileHash> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(FileHash { path: path.to_path_buf(), sha256: sha256_hex(&bytes) })
    }
}

/// The rig's identity: crate version plus the git commit of the checkout.
pub fn rig_version(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    format!("modrig {} ({commit}{})", env!("CARGO_PKG_VERSION"), if dirty { "-dirty" } else { "" })
}

/// The lines that differ between two inputs, for resume and merge errors.
pub fn input_differences(a: &Inputs, b: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} -> {y}"));
        }
    };
    check("matrix file", a.matrix_sha256.clone(), b.matrix_sha256.clone());
    check("baseline", a.baseline.clone(), b.baseline.clone());
    check("candidate", a.candidate.clone(), b.candidate.clone());
    check("vcpus", format!("{:?}", a.vcpus), format!("{:?}", b.vcpus));
    check("repetitions", a.repetitions.to_string(), b.repetitions.to_string());
    let names = |i: &Inputs| i.variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(", ");
    check("variants", names(a), names(b));
    for (x, y) in a.variants.iter().zip(&b.variants) {
        check(&format!("variant {} kernel", x.name), x.kernel_key.clone(), y.kernel_key.clone());
        check(&format!("variant {} stress modules", x.name), x.modules_key.clone(), y.modules_key.clone());
    }
    let scenario_hashes = |i: &Inputs| {
        i.scenarios.iter().map(|s| format!("{}={}", s.path.display(), short(&s.sha256))).collect::<Vec<_>>()
    };
    check("scenarios", scenario_hashes(a).join(" "), scenario_hashes(b).join(" "));
    if out.is_empty() && a != b {
        out.push("thresholds or expected changes".to_string());
    }
    out
}

/// The first 12 characters of a hash (all of a shorter one: manifests are
/// read from disk and may have been edited).
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Creates `results/<UTC time>-<tag>[-N]` exclusively.
pub fn create_run_dir(results: &Path, tag: &str) -> Result<(String, PathBuf)> {
    create_unique_dir(results, &format!("{}-{tag}", timefmt::now_compact_utc()))
}

/// Creates `<run>/boots/<name>[-N]` exclusively: where a boot that several
/// cells shared keeps its whole console and QEMU command line.
pub fn new_boot_dir(run: &Path, name: &str) -> Result<PathBuf> {
    create_unique_dir(&run.join("boots"), name).map(|(_, dir)| dir)
}

/// Creates `parent/base`, or `parent/base-N` with the first free N.
pub fn create_unique_dir(parent: &Path, base: &str) -> Result<(String, PathBuf)> {
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    for n in 0..1000 {
        let id = if n == 0 { base.to_string() } else { format!("{base}-{n}") };
        let dir = parent.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    bail!("too many directories named {base} in {}", parent.display())
}

pub fn cell_dir(run: &Path, key: &CellKey) -> PathBuf {
    run.join("cells").join(key.rel_dir())
}

pub fn write_manifest(run: &Path, manifest: &Manifest) -> Result<()> {
    write_atomic(&run.join(MANIFEST), &serde_json::to_vec_pretty(manifest)?)
}

pub fn read_manifest(run: &Path) -> Result<Manifest> {
    let path = run.join(MANIFEST);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("{} is not a modrig matrix run: cannot read {}", run.display(), path.display()))?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid run manifest", path.display()))?;
    if manifest.schema != MANIFEST_SCHEMA {
        bail!("{}: manifest schema {} (this rig reads {MANIFEST_SCHEMA})", path.display(), manifest.schema);
    }
    Ok(manifest)
}

/// A finished cell's record, with its log paths pointing where the cell
/// is now (runs get moved and merged).
pub fn read_cell(run: &Path, key: &CellKey) -> Result<Option<CellResult>> {
    let dir = cell_dir(run, key);
    let path = dir.join(VERDICT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut record: RunRecord =
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid verdict record", path.display()))?;
    if record.schema != RUN_RECORD_SCHEMA {
        bail!(
            "{}: a verdict record of schema {} (this rig reads schema {RUN_RECORD_SCHEMA}); rerun the cell, or read it with the rig that wrote it",
            path.display(),
            record.schema
        );
    }
    record.console_log = dir.join("console.log");
    record.events_log = dir.join("events.jsonl");
    Ok(Some(CellResult { key: key.clone(), record }))
}

/// Every finished cell of a run, and the planned cells that are not.
pub fn read_cells(run: &Path, manifest: &Manifest) -> Result<(Vec<CellResult>, Vec<CellKey>)> {
    let (mut done, mut missing) = (Vec::new(), Vec::new());
    for key in &manifest.cells {
        match read_cell(run, key)? {
            Some(cell) => done.push(cell),
            None => missing.push(key.clone()),
        }
    }
    Ok((done, missing))
}

/// Joins shard runs into a new run under `results`: inputs must be
/// identical and cells must not overlap. Returns the new run's directory.
pub fn merge(runs: &[PathBuf], results: &Path) -> Result<PathBuf> {
    if runs.is_empty() {
        bail!("nothing to merge: give the run directories of the shards");
    }
    let manifests: Vec<Manifest> = runs.iter().map(|r| read_manifest(r)).collect::<Result<_>>()?;
    let first = &manifests[0];
    for (run, m) in runs.iter().zip(&manifests).skip(1) {
        let differences = input_differences(&first.inputs, &m.inputs);
        if !differences.is_empty() {
            bail!(
                "cannot merge {} with {}: they ran different inputs ({})",
                run.display(),
                runs[0].display(),
                differences.join("; ")
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (run, m) in runs.iter().zip(&manifests) {
        for key in &m.cells {
            if !seen.insert(key.clone()) {
                bail!(
                    "cell {} is in more than one of the runs (again in {}): shards overlap",
                    key.rel_dir(),
                    run.display()
                );
            }
        }
    }
    let (run_id, dir) = create_run_dir(results, "merged")?;
    let mut cells = Vec::new();
    for (run, m) in runs.iter().zip(&manifests) {
        for key in &m.cells {
            let from = cell_dir(run, key);
            if from.join(VERDICT_FILE).is_file() {
                copy_dir(&from, &cell_dir(&dir, key))?;
            }
            cells.push(key.clone());
        }
    }
    cells.sort();
    let merged = Manifest {
        schema: MANIFEST_SCHEMA,
        run_id,
        created_utc: timefmt::now_compact_utc(),
        rig: first.rig.clone(),
        host: first.host.clone(),
        inputs: first.inputs.clone(),
        shard: None,
        merged_from: manifests
            .iter()
            .flat_map(|m| {
                let own = MergedRun { run_id: m.run_id.clone(), shard: m.shard, host: m.host.clone() };
                if m.merged_from.is_empty() {
                    vec![own]
                } else {
                    m.merged_from.clone()
                }
            })
            .collect(),
        // Each shard ran on its own machine in its own order: kept one
        // after the other, shard by shard.
        order: manifests.iter().flat_map(|m| m.order.iter().cloned()).collect(),
        cells,
    };
    write_manifest(&dir, &merged)?;
    Ok(dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}
