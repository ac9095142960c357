//! The kernels users run besides the default 6.12: 6.1 LTS (Debian 12's
//! `linux-source-6.1`) and mainline 7.2 (Debian unstable's
//! `linux-source-7.2`), both fetched by the rig from Debian's archive, built
//! from the same `base.config`, with the same stress modules, running the
//! same scenarios. Each kernel is a cold build of its own.
//!
//! Unstable moves on: when its package is gone from the archive, or the
//! suite cannot be reached, the test says so in one line.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{json, only_dir, project_root, scratch, xtask};

/// Fails in one line when Debian's archive could not give the package, so
/// that a CI log says what happened instead of a wall of assertions.
fn fail_if_the_archive_did_not_answer(package: &str, stderr: &str) {
    let markers = ["could not be read just now", "cannot reach Debian's archive", "has no package"];
    if let Some(line) = stderr.lines().find(|l| markers.iter().any(|m| l.contains(m))) {
        panic!("Debian's archive did not give {package}, so this kernel cannot be tested here: {}", line.trim());
    }
}

/// Runs the matrix file `matrix` with `extra` arguments into a fresh
/// results directory and returns the run's directory and exit code.
fn run_matrix(name: &str, package: &str, matrix: &Path, extra: &[&str]) -> (PathBuf, i32) {
    let results = scratch(name).join("results");
    let mut args = vec!["matrix", "--matrix", matrix.to_str().unwrap(), "--results", results.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = xtask(&args);
    let code = out.status.code().unwrap_or(-1);
    // Exit 1: the rig could not do its job (here, most likely, get or
    // build the kernel); the comparison's own statuses are 0, 13 and 20.
    if code == 1 {
        let stderr = String::from_utf8_lossy(&out.stderr);
        fail_if_the_archive_did_not_answer(package, &stderr);
        let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or("(no error line)");
        panic!("the matrix could not run: {error}");
    }
    (only_dir(&results), code)
}

/// The kernel release a run's variant was built as.
fn release_of(run: &Path, variant: &str) -> String {
    let manifest = json(&run.join("manifest.json"));
    let entry = manifest["inputs"]["variants"].as_array().unwrap().iter().find(|v| v["name"] == variant).cloned();
    entry.unwrap_or_else(|| panic!("no variant {variant} in the run's manifest"))["kernel_release"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `bugs/symbol-get-churn` reports what the kernel does with the
/// `__symbol_get()` race: a PANIC with the BUG in kernel/module/main.c when
/// the race is hit, a PASS when the churn missed the window.
fn report_the_symbol_get_verdicts(cells: &[Value], release: &str) -> usize {
    let mut panics = 0;
    for cell in cells.iter().filter(|c| c["key"]["scenario"] == "symbol-get-churn") {
        let reasons = cell["reasons"].to_string();
        match cell["verdict"].as_str().unwrap() {
            "PASS" => {}
            "PANIC" => {
                assert!(reasons.contains("kernel BUG at kernel/module/main.c:"), "{cell:#}");
                panics += 1;
            }
            other => panic!("symbol-get-churn on {release}: {other}, neither the BUG nor a PASS: {cell:#}"),
        }
        eprintln!("symbol-get-churn on {release}, {} vCPUs: {} {reasons}", cell["key"]["vcpus"], cell["verdict"]);
    }
    panics
}

/// 6.1 LTS: base.config and the stress modules build (the module build
/// tree is exported without 6.1's missing install-extmod-build), and every
/// shipped scenario PASSes at 2 vCPUs on both sides of scenarios/lts.yaml;
/// the kernel against itself raises no finding.
#[test]
fn lts_6_1_builds_and_every_shipped_scenario_passes() {
    let matrix = project_root().join("scenarios/lts.yaml");
    let (run, code) = run_matrix("lts61", "linux-source-6.1", &matrix, &["--vcpus", "2"]);
    let release = release_of(&run, "lts61");
    assert!(release.starts_with("6.1."), "6.1 LTS built as {release}");
    let summary = json(&run.join("summary.json"));
    let cells = summary["cells"].as_array().unwrap();
    // 14 shipped scenarios and the reproducer, once per side.
    assert_eq!(cells.len(), 30, "{summary:#}");
    for cell in cells.iter().filter(|c| c["key"]["scenario"] != "symbol-get-churn") {
        assert_eq!(cell["verdict"], "PASS", "on {release}: {cell:#}");
    }
    let panics = report_the_symbol_get_verdicts(cells, &release);
    // The kernel against itself: the only findings are the reproducer's
    // PANICs, which are on both sides (and so no regression).
    let findings = summary["findings"].as_array().unwrap();
    for finding in findings {
        assert!(finding["kind"] == "fails_on_both" && finding["scenario"] == "symbol-get-churn", "{finding:#}");
    }
    assert!(findings.len() <= panics, "{findings:#?}");
    assert_ne!(summary["status"], "regressed", "{summary:#}");
    assert!(code == 0 || code == 13, "exit {code}");
}

/// Mainline 7.2: the stop_machine() baseline ported to 7.2
/// (patches/stop-machine-7.2) against 7.2 as shipped, shortened from
/// scenarios/mainline.yaml: two stall scenarios at 4 vCPUs over 5 boots per
/// side, and every correctness scenario once per side. The correctness ones
/// PASS on both; the stall claim holds, or the rig says the host was too
/// noisy to judge; nothing regresses.
#[test]
fn mainline_7_2_builds_passes_and_shows_the_stall_claim() {
    let root = project_root();
    let dir = scratch("mainline");
    let scenario = |name: &str| root.join("scenarios").join(format!("{name}.yaml")).display().to_string();
    let correctness = [
        "get-vs-rmmod-race",
        "refcount-scaling",
        "fops-open-close-race",
        "procfs-readers-churn",
        "flag-semantics",
        "warn-during-churn",
        "null-blk-held-open",
        "brd-write-and-free",
        "loop-configured",
    ];
    let correctness: String =
        correctness.iter().map(|name| format!("  - {{ scenario: {}, repetitions: 1 }}\n", scenario(name))).collect();
    let text = format!(
        "\
variants:
  - name: mainline
    source: {{ debian: linux-source-7.2 }}
    configs: [base, victims]
  - name: stop-machine-7.2
    source: {{ debian: linux-source-7.2 }}
    patches: [{patches}]
    configs: [base, victims]
baseline: stop-machine-7.2
candidate: mainline
scenarios:
  - {a}
  - {b}
{correctness}vcpus: [4]
repetitions: 5
gate: [stall_other_cpus, stall_other_cpus_thread]
claims:
  - says: the other CPUs stop stalling during rmmod, on mainline too
    metric: stall_other_cpus
    change: improved
    scenarios: [unload-noise, busy-rmmod-storm]
",
        patches = root.join("patches/stop-machine-7.2").display(),
        a = scenario("unload-noise"),
        b = scenario("busy-rmmod-storm"),
    );
    let matrix = dir.join("mainline.yaml");
    fs::write(&matrix, text).unwrap();
    let (run, code) = run_matrix("mainline-run", "linux-source-7.2", &matrix, &[]);
    let release = release_of(&run, "mainline");
    assert!(release.starts_with("7."), "mainline built as {release}");
    let summary = json(&run.join("summary.json"));
    let cells = summary["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 * (2 * 5 + 9), "{summary:#}");
    for cell in cells {
        assert_eq!(cell["verdict"], "PASS", "on {release}: {cell:#}");
    }
    assert!(summary["findings"].as_array().unwrap().is_empty(), "{:#}", summary["findings"]);

    let claim = &summary["claims"][0];
    let mut judged = 0;
    for scenario in ["unload-noise", "busy-rmmod-storm"] {
        let c = summary["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scenario"] == scenario && c["metric"] == "stall_other_cpus")
            .unwrap_or_else(|| panic!("no stall comparison for {scenario}"));
        eprintln!(
            "{release} {scenario}: stall median stop-machine-7.2 {} ms vs mainline {} ms, {} boots, p_adj = {}, {}",
            c["baseline"]["median"], c["candidate"]["median"], c["candidate"]["boots"], c["p_adjusted"], c["change"]
        );
        if c["change"] == "improved" {
            judged += 1;
            continue;
        }
        assert_eq!(c["change"], "inconclusive", "neither improved nor inconclusive: {c:#}");
        let reason = c["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("too noisy"), "inconclusive, but not for a noisy host: {c:#}");
        eprintln!("host too noisy to judge {scenario}: {reason}");
    }
    assert_eq!(claim["holds"], judged == 2, "{claim:#}");
    assert_ne!(summary["status"], "regressed", "{summary:#}");
    assert!(code == 0 || code == 13, "exit {code}");
}
