//! The matrix: a shortened default matrix (the three stall scenarios and a
//! correctness one, 4 vCPUs, 5 boots per side), run as two shards, merged,
//! resumed and re-reported; the planted regression; and the kernel compared
//! with itself while a compiler shares the host.
//!
//! None of these tests assumes an idle host. Where they judge timing they
//! read the rig's own verdicts, which either decide or say plainly that the
//! host was too noisy to judge; they never compare numbers themselves.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;

use crate::{json, only_dir, project_root, scratch, xtask};

const STALL_SCENARIOS: [&str; 3] = ["unload-noise", "busy-rmmod-storm", "preempt-off-hog"];

/// Boots per side in the shortened matrices: the fewest the default
/// thresholds accept (min_boots 5), whose smallest rank-test p-value
/// (2/252 = 0.008) still passes Holm at 0.05 over up to 6 gated comparisons.
const BOOTS: u32 = 5;

fn short_matrix(dir: &Path) -> PathBuf {
    let root = project_root();
    let scenario = |name: &str| root.join("scenarios").join(format!("{name}.yaml")).display().to_string();
    let text = format!(
        "\
variants:
  - name: upstream
  - name: stop-machine
    patches: [{patches}]
baseline: stop-machine
candidate: upstream
scenarios: [{a}, {b}, {c}, {d}]
vcpus: [4]
repetitions: {BOOTS}
gate: [stall_other_cpus, stall_other_cpus_thread]
claims:
  - says: the other CPUs stop stalling during rmmod
    metric: stall_other_cpus
    change: improved
expected_changes:
  - metric: unload_latency
    change: regressed
    why: test
  - metric: unload_latency
    change: improved
    why: test
",
        patches = root.join("patches/stop-machine").display(),
        a = scenario(STALL_SCENARIOS[0]),
        b = scenario(STALL_SCENARIOS[1]),
        c = scenario(STALL_SCENARIOS[2]),
        d = scenario("flag-semantics"),
    );
    let file = dir.join("matrix.yaml");
    fs::write(&file, text).unwrap();
    file
}

fn comparison<'a>(summary: &'a Value, scenario: &str, metric: &str) -> &'a Value {
    summary["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scenario"] == scenario && c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} comparison for {scenario}"))
}

/// The rig either decided `want`, or said plainly that the host was too
/// noisy to judge (and then left the noisy boots out, so nothing else was
/// decided on them either). Anything else fails.
fn decided_or_too_noisy(c: &Value, want: &str) -> bool {
    if c["change"] == want {
        return true;
    }
    let reason = c["reason"].as_str().unwrap_or_default();
    assert_eq!(c["change"], "inconclusive", "neither {want} nor inconclusive: {c:#}");
    assert!(reason.contains("too noisy"), "inconclusive, but not for a noisy host: {c:#}");
    eprintln!("host too noisy to judge {} {}: {reason}", c["scenario"], c["metric"]);
    false
}

#[test]
fn sharded_matrix_merges_resumes_and_shows_the_stall_claim() {
    let scratch = scratch("matrix");
    let matrix = short_matrix(&scratch);
    let m = matrix.to_str().unwrap();
    let mut shards = Vec::new();
    for k in 1..=2 {
        let results = scratch.join(format!("shard{k}"));
        let shard = format!("{k}/2");
        let out = xtask(&["matrix", "--matrix", m, "--shard", &shard, "--results", results.to_str().unwrap()]);
        let code = out.status.code().unwrap();
        assert!(code == 0 || code == 20, "shard {k}: exit {code}");
        shards.push(only_dir(&results));
    }
    // Shards deal ABBA blocks (repetitions 1-2, 3-4, 5) round-robin, with
    // all 4 scenarios and both variants in each: shard 1 has repetitions
    // 1, 2 and 5, shard 2 has 3 and 4.
    for (shard, expected) in shards.iter().zip([24, 16]) {
        let manifest = json(&shard.join("manifest.json"));
        let cells = manifest["cells"].as_array().unwrap();
        assert_eq!(cells.len(), expected, "{manifest:#}");
        let accel = manifest["host"]["accel"]["accel"].as_str().unwrap();
        assert!(accel == "tcg" || accel == "kvm", "{accel}");
        assert_eq!(manifest["inputs"]["variants"].as_array().unwrap().len(), 2);
        // The recorded order: correctness cells first, then the timing
        // cells alone, each comparison's two sides in ABBA order.
        let order = manifest["order"].as_array().unwrap();
        assert_eq!(order.len(), cells.len());
        for scenario in STALL_SCENARIOS {
            let sides: String = order
                .iter()
                .filter(|c| c["scenario"] == scenario)
                .map(|c| if c["variant"] == "stop-machine" { 'A' } else { 'B' })
                .collect();
            if !sides.is_empty() {
                assert!("ABBAABBAAB".starts_with(&sides), "{scenario}: {sides}");
            }
        }
    }

    for shard in &shards {
        cells_share_boots_and_split_the_console(shard);
    }

    // Resume: a cell that lost its verdict is rerun, the others are kept.
    let first_cell = json(&shards[0].join("manifest.json"))["cells"][0].clone();
    let rel = format!(
        "cells/{}/{}/{}cpu-r{}",
        first_cell["variant"].as_str().unwrap(),
        first_cell["scenario"].as_str().unwrap(),
        first_cell["vcpus"],
        first_cell["rep"]
    );
    fs::remove_file(shards[0].join(&rel).join("verdict.json")).unwrap();
    let out = xtask(&["matrix", "--matrix", m, "--shard", "1/2", "--resume", shards[0].to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("finished before, kept").count(), 23, "{stderr}");
    assert!(shards[0].join(&rel).join("verdict.json").is_file());
    // A resume with other cells is refused.
    let out = xtask(&["matrix", "--matrix", m, "--shard", "2/2", "--resume", shards[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resume"));

    let merged_root = scratch.join("merged");
    let out = xtask(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--results",
        merged_root.to_str().unwrap(),
    ]);
    let merged = only_dir(&merged_root);
    let summary = json(&merged.join("summary.json"));
    assert_eq!(summary["schema"], 2);
    assert_eq!(summary["baseline"], "stop-machine");
    assert_eq!(summary["candidate"], "upstream");
    for file in ["report.md", "junit.xml", "report.html"] {
        assert!(merged.join(file).is_file(), "{file} missing");
    }
    let cells = summary["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 40);
    for cell in cells {
        assert_eq!(cell["verdict"], "PASS", "{cell:#}");
    }
    // Correctness: no verdict difference, no new kernel-log class.
    let findings = summary["findings"].as_array().unwrap();
    assert!(findings.is_empty(), "{findings:#?}");

    // The claim: stall on the other CPUs per unload, improved at 4 vCPUs,
    // judged over boots. Never a regression; on a host too busy to judge,
    // the rig says so.
    let mut judged = 0;
    for scenario in STALL_SCENARIOS {
        let c = comparison(&summary, scenario, "stall_other_cpus");
        eprintln!(
            "{scenario}: stall median stop-machine {} ms vs upstream {} ms over {} and {} boots, p_adj = {}, {}",
            c["baseline"]["median"],
            c["candidate"]["median"],
            c["baseline"]["boots"],
            c["candidate"]["boots"],
            c["p_adjusted"],
            c["change"]
        );
        assert_eq!(c["baseline"]["boots"].as_u64().unwrap() + c["baseline"]["noisy_boots"].as_u64().unwrap(), 5);
        if decided_or_too_noisy(c, "improved") {
            judged += 1;
            assert!(c["p_adjusted"].as_f64().unwrap() < 0.05, "{c:#}");
        }
    }
    let claim = &summary["claims"][0];
    assert_eq!(claim["rows"].as_array().unwrap().len(), 3, "{claim:#}");
    assert_eq!(claim["holds"], judged == 3, "{claim:#}");
    let report = fs::read_to_string(merged.join("report.md")).unwrap();
    let claims_at = report.find("the other CPUs stop stalling during rmmod").expect("the claim is in report.md");
    assert!(claims_at < report.find("unload_latency").unwrap(), "report.md must open with the claim");
    assert_eq!(out.status.code(), Some(summary["status"].as_str().map(status_code).unwrap()));

    // `report` re-renders the same summary from the stored results.
    fs::remove_file(merged.join("summary.json")).unwrap();
    let again = xtask(&["report", merged.to_str().unwrap()]);
    assert_eq!(again.status.code(), out.status.code());
    assert_eq!(json(&merged.join("summary.json")), summary);

    // `diff` of a run against itself: nothing changed.
    let diff_out = scratch.join("diff");
    let out = xtask(&["diff", merged.to_str().unwrap(), merged.to_str().unwrap(), "--out", diff_out.to_str().unwrap()]);
    let same = json(&diff_out.join("summary.json"));
    assert_eq!(out.status.code(), Some(0), "{same:#}");
    for c in same["comparisons"].as_array().unwrap() {
        assert_ne!(c["change"], "regressed");
        assert_ne!(c["change"], "improved");
    }
}

/// A fixed 6 ms sleep planted in every unload (fixtures/planted-regression)
/// must be called a regression of rmmod's latency, or, on a host too busy
/// to judge, be reported as exactly that.
#[test]
fn the_planted_regression_is_called_regressed() {
    let results = scratch("planted");
    let matrix = project_root().join("fixtures/planted-regression/matrix.yaml");
    let out = xtask(&["matrix", "--matrix", matrix.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    let run = only_dir(&results);
    let summary = json(&run.join("summary.json"));
    let c = comparison(&summary, "rmmod-latency", "unload_latency");
    eprintln!(
        "planted: unload median upstream {} ms vs planted {} ms, ratio {} {:?}, p_adj {}",
        c["baseline"]["median"], c["candidate"]["median"], c["ratio"], c["ci95"], c["p_adjusted"]
    );
    if decided_or_too_noisy(c, "regressed") {
        assert_eq!(out.status.code(), Some(20), "{summary:#}");
        assert_eq!(summary["claims"][0]["holds"], true);
    } else {
        assert_eq!(out.status.code(), Some(0), "{summary:#}");
    }
}

/// Burns one host core with a real compiler until dropped: gcc -O2 on a
/// generated C file, over and over, as a build beside the rig would.
struct CompilerBeside {
    child: Child,
}

impl CompilerBeside {
    fn start(dir: &Path) -> CompilerBeside {
        let source = dir.join("busy.c");
        let mut text = String::new();
        for i in 0..400 {
            text.push_str(&format!(
                "int f{i}(int *a, int n) {{ int s = 0; for (int j = 0; j < n; j++) s += a[j] * {i} ^ (s >> 3); return s; }}\n"
            ));
        }
        fs::write(&source, text).unwrap();
        let script = "while :; do gcc -O2 -c \"$1\" -o \"$2\"; done";
        let child = Command::new("sh")
            .args(["-c", script, "sh", source.to_str().unwrap(), dir.join("busy.o").to_str().unwrap()])
            .spawn()
            .expect("cannot start gcc beside the test");
        CompilerBeside { child }
    }
}

impl Drop for CompilerBeside {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kernel against itself (A/A) on a shortened matrix, with a compiler
/// running beside it the whole time: no gating false alarm, whatever the
/// noise. Noisy boots are left out and reported, not judged.
#[test]
fn the_kernel_against_itself_raises_no_alarm_with_a_compiler_beside_it() {
    let scratch = scratch("calibrate");
    let compiler = CompilerBeside::start(&scratch);
    let results = scratch.join("results");
    let out = xtask(&[
        "calibrate",
        "--scenario",
        "unload-noise",
        "--scenario",
        "rmmod-latency",
        "--vcpus",
        "2",
        "--boots",
        &BOOTS.to_string(),
        "--comparisons",
        "1",
        "--results",
        results.to_str().unwrap(),
    ]);
    drop(compiler);
    assert_eq!(out.status.code(), Some(0));
    let run = only_dir(&results);
    let calibration = json(&run.join("calibration.json"));
    eprintln!("{}", fs::read_to_string(run.join("calibration.md")).unwrap());
    assert_eq!(calibration["blocks"], 1);
    assert_eq!(calibration["gating_false_alarms"], 0, "{calibration:#}");
    assert_eq!(calibration["regressed_blocks"], 0, "{calibration:#}");
    let summary = json(&run.join("summary.json"));
    assert_ne!(summary["status"], "regressed", "{summary:#}");
    for c in summary["comparisons"].as_array().unwrap() {
        assert!(c["change"] != "regressed" && c["change"] != "improved", "a false alarm: {c:#}");
    }
    // The compiler took a core: the rig noticed it in the cells' host load.
    let loads: Vec<f64> =
        summary["cells"].as_array().unwrap().iter().filter_map(|c| c["host_other_cores"].as_f64()).collect();
    assert!(!loads.is_empty(), "no cell recorded the host's load");
    let busiest = loads.iter().copied().fold(0.0, f64::max);
    assert!(
        busiest > summary["thresholds"]["max_host_load"].as_f64().unwrap(),
        "the guard missed the compiler: {loads:?}"
    );
    eprintln!("other processes' load per cell (cores): {loads:?}; noisy cells: {}", summary["noisy_cells"]);
}

/// The verdicts under a run's `cells/`, with the attempts a noisy host
/// spoiled (kept aside as `<cell>.noisy-N/`) when `spoiled` is true.
fn cell_records(run: &Path, spoiled: bool) -> Vec<Value> {
    let mut records = Vec::new();
    for variant in fs::read_dir(run.join("cells")).unwrap() {
        for scenario in fs::read_dir(variant.unwrap().path()).unwrap() {
            for cell in fs::read_dir(scenario.unwrap().path()).unwrap() {
                let cell = cell.unwrap().path();
                let verdict = cell.join("verdict.json");
                if verdict.is_file() && (spoiled || !cell.to_string_lossy().contains(".noisy-")) {
                    records.push(json(&verdict));
                }
            }
        }
    }
    records
}

/// The cells of one boot, by the boot's console log, in the order they ran.
fn boots_of(records: &[Value]) -> Vec<Vec<&Value>> {
    let mut boots: Vec<Vec<&Value>> = Vec::new();
    for record in records {
        let log = &record["boot"]["console_log"];
        assert!(log.is_string(), "a matrix cell names its boot: {record:#}");
        match boots.iter_mut().find(|b| b[0]["boot"]["console_log"] == *log) {
            Some(boot) => boot.push(record),
            None => boots.push(vec![record]),
        }
    }
    for boot in &mut boots {
        boot.sort_by_key(|r| r["boot"]["position"].as_u64().unwrap());
    }
    boots
}

/// A boot runs several cells; each cell's console.log is its own part of the
/// boot's console: the first has the kernel's boot messages, the others
/// start after the previous cell's end mark, and the parts put together
/// are the whole console.
fn cells_share_boots_and_split_the_console(run: &Path) {
    let records = cell_records(run, true);
    let boots = boots_of(&records);
    assert!(boots.len() < records.len(), "{} cells in {} boots", records.len(), boots.len());
    assert!(boots.iter().any(|b| b.len() >= 3), "the stall scenarios of one side and repetition share a boot");
    for boot in &boots {
        let positions: Vec<u64> = boot.iter().map(|r| r["boot"]["position"].as_u64().unwrap()).collect();
        assert_eq!(positions, (0..boot.len() as u64).collect::<Vec<_>>(), "every cell of a boot has a record");
        let whole = fs::read_to_string(boot[0]["boot"]["console_log"].as_str().unwrap()).unwrap();
        let parts: Vec<String> =
            boot.iter().map(|r| fs::read_to_string(r["console_log"].as_str().unwrap()).unwrap()).collect();
        assert_eq!(parts.concat(), whole, "the cells' parts make up the boot's console");
        assert!(parts[0].contains("Linux version"), "the first cell has the boot messages");
        for (i, (record, part)) in boot.iter().zip(&parts).enumerate() {
            assert_eq!(record["boot_to_ready_ms"].is_number(), i == 0, "{record:#}");
            if i > 0 {
                assert!(!part.contains("Linux version"), "{part}");
            }
            if i + 1 < boot.len() {
                let last = part.trim_end().lines().last().unwrap_or_default();
                let mark = format!(
                    "modrig: cell {}/{}/{}cpu-r",
                    record["variant"].as_str().unwrap(),
                    record["scenario"].as_str().unwrap(),
                    record["vcpus"]
                );
                assert!(
                    last.contains(&mark) && last.ends_with(" ends"),
                    "a cell's part ends with its end mark: {last}"
                );
            }
        }
    }
}

fn status_code(status: &str) -> i32 {
    match status {
        "clean" => 0,
        "regressed" => 20,
        _ => 13,
    }
}

/// The bug matrix: the kernel race scenarios/bugs/symbol-get-churn.yaml
/// reproduces PANICs 6.12 as shipped and passes with the fix in
/// patches/symbol-get-unformed; the diff reports it as fixed, not as a
/// regression.
#[test]
fn the_symbol_get_fix_turns_the_panic_into_a_pass() {
    let results = scratch("bug-matrix");
    // The bug matrix with a second correctness scenario: it shares a boot
    // with the reproducer, so on the panicking kernel it must run again in
    // a fresh boot, and still pass.
    let root = project_root();
    let bug_matrix = fs::read_to_string(root.join("scenarios/bugs/matrix.yaml")).unwrap();
    let text = bug_matrix.replace("../../patches/", &format!("{}/patches/", root.display())).replace(
        "scenarios: [symbol-get-churn]",
        &format!(
            "scenarios: [{}, {}]",
            root.join("scenarios/bugs/symbol-get-churn.yaml").display(),
            root.join("scenarios/flag-semantics.yaml").display()
        ),
    );
    assert_ne!(text, bug_matrix, "the bug matrix changed shape: update this test");
    fs::create_dir_all(&results).unwrap();
    let matrix = results.join("bug-matrix.yaml");
    fs::write(&matrix, text).unwrap();
    let runs = results.join("runs");
    let out = xtask(&[
        "matrix",
        "--matrix",
        matrix.to_str().unwrap(),
        "--vcpus",
        "2",
        "--repetitions",
        "1",
        "--results",
        runs.to_str().unwrap(),
    ]);
    let run = only_dir(&runs);
    let summary = json(&run.join("summary.json"));
    assert_eq!(out.status.code(), Some(0), "{summary:#}");
    let verdicts: Vec<(&str, &str, &str)> = summary["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"]["variant"].as_str().unwrap(),
                c["key"]["scenario"].as_str().unwrap(),
                c["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("symbol-get-fix", "flag-semantics", "PASS"),
            ("symbol-get-fix", "symbol-get-churn", "PASS"),
            ("upstream", "flag-semantics", "PASS"),
            ("upstream", "symbol-get-churn", "PANIC")
        ]
    );
    let findings = summary["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["kind"], "fixed");
    assert!(findings[0]["excerpt"].as_str().unwrap().contains("kernel BUG at kernel/module/main.c"), "{findings:#?}");

    // The fixed kernel ran both scenarios in one boot; the panicking one
    // ran the second in a boot of its own after the panic ended the first.
    let records = cell_records(&run, false);
    let boots = boots_of(&records);
    let shape: Vec<(String, Vec<&str>)> = boots
        .iter()
        .map(|b| {
            (b[0]["variant"].as_str().unwrap().to_string(), b.iter().map(|r| r["scenario"].as_str().unwrap()).collect())
        })
        .collect();
    assert!(shape.contains(&("symbol-get-fix".into(), vec!["symbol-get-churn", "flag-semantics"])), "{shape:?}");
    assert!(shape.contains(&("upstream".into(), vec!["symbol-get-churn"])), "{shape:?}");
    assert!(shape.contains(&("upstream".into(), vec!["flag-semantics"])), "{shape:?}");
    let panicked = records.iter().find(|r| r["verdict"] == "PANIC").unwrap();
    let part = fs::read_to_string(panicked["console_log"].as_str().unwrap()).unwrap();
    assert!(part.contains("Kernel panic - not syncing"), "the panic is in the panicking cell's own console");
}
