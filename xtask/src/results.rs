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

use crate::cell::{CellKey, CellResult};
use crate::diff_config::DiffConfig;
use crate::fsutil::write_atomic;
use crate::hashing::sha256_hex;
use crate::matrix::plan::Shard;
use crate::record::AccelDecision;
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

/// A matrix run's directory: `manifest.json`, a directory per cell
/// (`cells/<variant>/<scenario>/<N>cpu-r<R>/` with its `verdict.json`,
/// console and events), the boots that cells shared (`boots/`), and the
/// reports. Runs are created, opened, resumed and merged through this type
/// only, so the layout lives in one place.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    manifest: Manifest,
}

impl RunDir {
    /// Creates `results/<UTC time>-<tag>[-N]` exclusively and writes
    /// `manifest` into it, with the directory's name as its run id.
    pub fn create(results: &Path, tag: &str, mut manifest: Manifest) -> Result<RunDir> {
        let (run_id, path) = create_run_dir(results, tag)?;
        manifest.run_id = run_id;
        write_atomic(&path.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
        Ok(RunDir { path, manifest })
    }

    /// Creates the directory `path` (which must not exist) for a run whose
    /// manifest is already complete: a shard written elsewhere, a test.
    pub fn create_at(path: &Path, manifest: Manifest) -> Result<RunDir> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::create_dir(path).with_context(|| format!("cannot create {}", path.display()))?;
        write_atomic(&path.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
        Ok(RunDir { path: path.to_path_buf(), manifest })
    }

    /// Opens a stored run: its manifest must be there, of this rig's schema.
    pub fn open(path: &Path) -> Result<RunDir> {
        let file = path.join(MANIFEST);
        let text = fs::read_to_string(&file).with_context(|| {
            format!("{} is not a modrig matrix run: cannot read {}", path.display(), file.display())
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).with_context(|| format!("{}: not a valid run manifest", file.display()))?;
        if manifest.schema != MANIFEST_SCHEMA {
            bail!("{}: manifest schema {} (this rig reads {MANIFEST_SCHEMA})", file.display(), manifest.schema);
        }
        Ok(RunDir { path: path.to_path_buf(), manifest })
    }

    /// Opens an interrupted run to finish it: only when it ran the same
    /// inputs (kernels, scenarios, settings) and was planned with the same
    /// cells, since its finished cells are kept.
    pub fn resume(path: &Path, inputs: &Inputs, shard: Option<Shard>, cells: &[CellKey]) -> Result<RunDir> {
        let run = RunDir::open(path)?;
        let differences = input_differences(&run.manifest.inputs, inputs);
        if !differences.is_empty() {
            bail!(
                "cannot resume {}: its inputs changed since it started ({}); start a new run",
                path.display(),
                differences.join("; ")
            );
        }
        if run.manifest.shard != shard || run.manifest.cells != cells {
            bail!(
                "cannot resume {}: it was started with other cells (shard {:?}, {} cells; now {:?}, {} cells): pass the same --shard/--scenario/--vcpus/--repetitions",
                path.display(),
                run.manifest.shard.map(|s| s.to_string()),
                run.manifest.cells.len(),
                shard.map(|s| s.to_string()),
                cells.len()
            );
        }
        Ok(run)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn cell_dir(&self, key: &CellKey) -> PathBuf {
        self.path.join("cells").join(key.rel_dir())
    }

    /// Whether the cell finished (it has a `verdict.json`).
    pub fn has_verdict(&self, key: &CellKey) -> bool {
        self.cell_dir(key).join(VERDICT_FILE).is_file()
    }

    /// Creates `boots/<name>[-N]` exclusively: where a boot that several
    /// cells shared keeps its whole console and QEMU command line.
    pub fn new_boot_dir(&self, name: &str) -> Result<PathBuf> {
        create_unique_dir(&self.path.join("boots"), name).map(|(_, dir)| dir)
    }

    /// A finished cell's record, with its log paths pointing where the cell
    /// is now (runs get moved and merged).
    pub fn read_cell(&self, key: &CellKey) -> Result<Option<CellResult>> {
        let dir = self.cell_dir(key);
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

    /// Every finished cell of the run, and the planned cells that are not.
    pub fn read_cells(&self) -> Result<(Vec<CellResult>, Vec<CellKey>)> {
        let (mut done, mut missing) = (Vec::new(), Vec::new());
        for key in &self.manifest.cells {
            match self.read_cell(key)? {
                Some(cell) => done.push(cell),
                None => missing.push(key.clone()),
            }
        }
        Ok((done, missing))
    }

    /// Joins shard runs into a new run under `results`: inputs must be
    /// identical and cells must not overlap.
    pub fn merge(runs: &[PathBuf], results: &Path) -> Result<RunDir> {
        if runs.is_empty() {
            bail!("nothing to merge: give the run directories of the shards");
        }
        let shards: Vec<RunDir> = runs.iter().map(|r| RunDir::open(r)).collect::<Result<_>>()?;
        let first = &shards[0].manifest;
        for shard in shards.iter().skip(1) {
            let differences = input_differences(&first.inputs, &shard.manifest.inputs);
            if !differences.is_empty() {
                bail!(
                    "cannot merge {} with {}: they ran different inputs ({})",
                    shard.path.display(),
                    shards[0].path.display(),
                    differences.join("; ")
                );
            }
        }
        let mut seen = BTreeSet::new();
        for shard in &shards {
            for key in &shard.manifest.cells {
                if !seen.insert(key.clone()) {
                    bail!(
                        "cell {} is in more than one of the runs (again in {}): shards overlap",
                        key.rel_dir(),
                        shard.path.display()
                    );
                }
            }
        }
        let mut cells: Vec<CellKey> = shards.iter().flat_map(|s| s.manifest.cells.iter().cloned()).collect();
        cells.sort();
        let manifest = Manifest {
            schema: MANIFEST_SCHEMA,
            run_id: String::new(),
            created_utc: timefmt::now_compact_utc(),
            rig: first.rig.clone(),
            host: first.host.clone(),
            inputs: first.inputs.clone(),
            shard: None,
            merged_from: shards
                .iter()
                .flat_map(|s| {
                    let m = &s.manifest;
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
            order: shards.iter().flat_map(|s| s.manifest.order.iter().cloned()).collect(),
            cells,
        };
        let merged = RunDir::create(results, "merged", manifest)?;
        for shard in &shards {
            for key in &shard.manifest.cells {
                if shard.has_verdict(key) {
                    copy_dir(&shard.cell_dir(key), &merged.cell_dir(key))?;
                }
            }
        }
        Ok(merged)
    }
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
