//! Stored runs: two shard runs written to disk the way `matrix --shard`
//! writes them, merged, summarized and rendered (a snapshot: set
//! MODRIG_BLESS=1 to rewrite it after a reviewed change).

use std::path::{Path, PathBuf};

use super::*;
use crate::diff::{CellKey, DiffConfig};
use crate::guest::accel::AccelDecision;
use crate::guest::qemu::Accel;
use crate::matrix::plan::Shard;
use crate::record::RunRecord;
use crate::results::{self, FileHash, HostRecord, Inputs, Manifest, RunDir, VariantInputs};
use crate::scenario::compile::Metrics;
use crate::verdict::{RunEnd, Verdict};

fn inputs() -> Inputs {
    let variant = |name: &str| VariantInputs {
        name: name.into(),
        kernel_key: format!("key-{name}"),
        kernel_release: "6.12.117+".into(),
        source: "tarball /usr/src/linux-source-6.12.tar.xz".into(),
        source_identity: "tar:abc".into(),
        patches: vec![],
        configs: vec![FileHash { path: "kernel-configs/base.config".into(), sha256: "00".into() }],
        modules_key: "m".into(),
    };
    Inputs {
        matrix_file: "scenarios/matrix.yaml".into(),
        matrix_sha256: "11".into(),
        baseline: "stop-machine".into(),
        candidate: "upstream".into(),
        variants: vec![variant("upstream"), variant("stop-machine")],
        scenarios: vec![FileHash { path: "scenarios/unload-noise.yaml".into(), sha256: "2222222222222222".into() }],
        vcpus: vec![2, 4],
        repetitions: 1,
        diff: DiffConfig::default(),
    }
}

fn host() -> HostRecord {
    HostRecord {
        kernel: "6.1.0".into(),
        qemu: "QEMU 7.2".into(),
        cores: 2,
        accel: AccelDecision { accel: Accel::Tcg, how: "tcg".into() },
    }
}

/// A shard run with the unload-noise cells of `vcpus`: stop-machine's
/// stall ~4 ms, upstream's ~0.3 ms, 40 windows each; `inputs` as it ran them.
fn write_shard(dir: &Path, k: u32, vcpus: u32, inputs: Inputs) {
    let keys: Vec<CellKey> = ["stop-machine", "upstream"]
        .iter()
        .map(|v| CellKey { variant: v.to_string(), scenario: "unload-noise".into(), vcpus, rep: 1 })
        .collect();
    let manifest = Manifest {
        schema: results::MANIFEST_SCHEMA,
        run_id: format!("shard{k}"),
        created_utc: "20261125-000000".into(),
        rig: "modrig test".into(),
        host: host(),
        inputs,
        shard: Some(Shard { k, n: 2 }),
        merged_from: vec![],
        order: keys.clone(),
        cells: keys.clone(),
    };
    let run = RunDir::create_at(dir, manifest).unwrap();
    for key in &keys {
        let center = if key.variant == "stop-machine" { 4.0e6 } else { 0.3e6 };
        let stall = (0..40).map(|i| (center * (0.7 + 0.6 * f64::from(i) / 40.0)) as u64).collect();
        let unload = (0..40).map(|i| 15_000_000 + i * 10_000).collect();
        let cell = run.cell_dir(key);
        std::fs::create_dir_all(&cell).unwrap();
        std::fs::write(cell.join("console.log"), "console\n").unwrap();
        let record = RunRecord {
            schema: 1,
            verdict: Verdict::Pass,
            reasons: vec![],
            scenario: key.scenario.clone(),
            variant: key.variant.clone(),
            kernel_key: format!("key-{}", key.variant),
            kernel_release: "6.12.117+".into(),
            vcpus,
            accel: host().accel,
            end: RunEnd::Done,
            boot_to_init_ms: Some(900.0),
            boot_to_ready_ms: Some(950.0),
            wall_ms: 4000.0,
            kernel_events: vec![],
            metrics: Some(Metrics { stall_other_cpus_ns: stall, unload_latency_ns: unload, ..Metrics::default() }),
            // Where the shard machine had it: a merge must not keep this.
            console_log: PathBuf::from("/elsewhere/console.log"),
            events_log: PathBuf::from("/elsewhere/events.jsonl"),
            host_load: None,
            boot: None,
        };
        std::fs::write(cell.join("verdict.json"), serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modrig-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn shards_merge_into_one_run_whose_report_matches_the_snapshot() {
    let root = scratch("merge");
    let (a, b) = (root.join("shard1"), root.join("shard2"));
    write_shard(&a, 1, 2, inputs());
    write_shard(&b, 2, 4, inputs());
    let merged = RunDir::merge(&[a.clone(), b.clone()], &root.join("merged")).unwrap();
    let manifest = merged.manifest().clone();
    let merged = merged.path().to_path_buf();
    assert_eq!(manifest.cells.len(), 4);
    assert_eq!(manifest.shard, None);
    assert_eq!(manifest.merged_from.iter().map(|m| m.run_id.as_str()).collect::<Vec<_>>(), ["shard1", "shard2"]);

    let summary = summarize_run(&merged).unwrap();
    // The reports are written beside the cells, one file per format.
    let written = write_reports(&summary, &merged).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, report::FILES);
    let stored: Summary = serde_json::from_slice(&std::fs::read(merged.join("summary.json")).unwrap()).unwrap();
    assert_eq!((stored.status, stored.cells.len(), stored.runs), (summary.status, 4, summary.runs.clone()));
    assert_eq!(summary.status, Status::Clean);
    assert_eq!(summary.cells.len(), 4);
    // Log paths point into the merged run, relative to it.
    assert_eq!(summary.cells[0].console_log, PathBuf::from("cells/stop-machine/unload-noise/2cpu-r1/console.log"));
    let stall: Vec<_> = summary.comparisons.iter().filter(|c| c.metric == "stall_other_cpus").collect();
    assert_eq!(stall.len(), 2);
    // One boot per side: however clear the windows, nothing is judged.
    assert!(stall.iter().all(|c| c.change == crate::stats::Change::Inconclusive));
    assert!(stall.iter().all(|c| c.reason.as_deref().unwrap().starts_with("1 and 1 boots")), "{stall:?}");

    let id = &manifest.run_id;
    let rendered = format!(
        "{}\n---- markdown ----\n{}",
        report::terminal(&summary, false).replace(id.as_str(), "<merged-run>"),
        report::markdown(&summary).replace(id.as_str(), "<merged-run>")
    );
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/merged-shards.expected");
    if std::env::var_os("MODRIG_BLESS").is_some() {
        std::fs::write(&snapshot, &rendered).unwrap();
    }
    let want = std::fs::read_to_string(&snapshot)
        .unwrap_or_else(|_| panic!("no snapshot {}; run with MODRIG_BLESS=1 and review it", snapshot.display()));
    assert_eq!(rendered, want, "the merged run's report changed");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn merge_refuses_different_inputs_and_overlapping_shards() {
    let root = scratch("merge-bad");
    let (a, b) = (root.join("a"), root.join("b"));
    write_shard(&a, 1, 2, inputs());
    write_shard(&b, 2, 2, inputs());
    let err = RunDir::merge(&[a.clone(), b], &root.join("out")).unwrap_err().to_string();
    assert!(err.contains("is in more than one of the runs"), "{err}");

    let c = root.join("c");
    let mut other_kernel = inputs();
    other_kernel.variants[0].kernel_key = "another-kernel".into();
    write_shard(&c, 2, 4, other_kernel);
    let err = RunDir::merge(&[a, c], &root.join("out")).unwrap_err().to_string();
    assert!(
        err.contains("they ran different inputs (variant upstream kernel: key-upstream -> another-kernel)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
