//! The debug-kernel pair: scenarios/debug-matrix.yaml, whose two default
//! variants are built with the kernel's bug finders (lockdep, PROVE_RCU,
//! KASAN, KFENCE, UBSAN, DEBUG_ATOMIC_SLEEP) and DWARF line tables. CI runs
//! it shortened: the correctness scenarios closest to the series' second
//! claim (the module list's RCU readers, the refcount under contention,
//! real drivers' teardown) at 2 vCPUs, once per side. The same kernel's
//! debug info decodes a panic's frames to file:line.

use crate::{json, only_dir, project_root, scratch, xtask};

/// What CI runs of scenarios/debug-matrix.yaml.
const SHORTENED: [&str; 4] = ["procfs-readers-churn", "get-vs-rmmod-race", "null-blk-held-open", "loop-configured"];

#[test]
fn the_debug_pair_passes_the_correctness_scenarios_with_lockdep_and_kasan_watching() {
    let matrix = project_root().join("scenarios/debug-matrix.yaml");
    let results = scratch("debug-matrix").join("results");
    let mut args = vec!["matrix", "--matrix", matrix.to_str().unwrap(), "--results", results.to_str().unwrap()];
    for scenario in SHORTENED {
        args.extend(["--scenario", scenario]);
    }
    args.extend(["--vcpus", "2"]);
    let out = xtask(&args);
    let run = only_dir(&results);
    let summary = json(&run.join("summary.json"));
    let cells = summary["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 * SHORTENED.len(), "{summary:#}");
    for cell in cells {
        assert_eq!(cell["verdict"], "PASS", "{cell:#}");
    }
    // Nothing new in the kernel log on either side, and nothing is gated.
    let findings = summary["findings"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // The kernels really are the debug ones.
    let manifest = json(&run.join("manifest.json"));
    for variant in manifest["inputs"]["variants"].as_array().unwrap() {
        let configs: Vec<&str> =
            variant["configs"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
        assert!(configs.iter().any(|c| c.ends_with("debug.config")), "{variant:#}");
    }
}

/// A KASAN report on the debug kernel (fixture_provoke reads memory it
/// freed) is decoded: the module's frame names
/// guests/modules/fixture_provoke.c and its line, the kernel's frames their
/// own files.
#[test]
fn a_kasan_report_on_the_debug_kernel_is_decoded_to_file_and_line() {
    let matrix = project_root().join("scenarios/debug-matrix.yaml");
    let dir = scratch("debug-decode");
    let scenario = dir.join("kasan-uaf.yaml");
    std::fs::write(
        &scenario,
        "name: kasan-uaf\ndescription: fixture_provoke reads a freed allocation in its init\ndeadline: 90s\n\
         modules: [fixture_provoke]\nsteps:\n  - load: fixture_provoke\n    params: \"what=kasan_uaf\"\n    \
         expect: [ok, EAGAIN]\n",
    )
    .unwrap();
    let results = dir.join("results");
    let out = xtask(&[
        "run",
        scenario.to_str().unwrap(),
        "--matrix",
        matrix.to_str().unwrap(),
        "--variant",
        "upstream",
        "--results",
        results.to_str().unwrap(),
        "--json",
    ]);
    let events = crate::events(&out);
    let record = &events.last().unwrap()["record"];
    assert_eq!(record["verdict"], "FAIL", "{record:#}");
    let kasan: Vec<&str> = record["kernel_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["class"] == "kasan")
        .map(|e| e["excerpt"].as_str().unwrap())
        .collect();
    assert_eq!(kasan.len(), 1, "{record:#}");
    let excerpt = kasan[0];
    assert!(!excerpt.contains("frames not decoded"), "{excerpt}");
    assert!(
        excerpt.contains("BUG: KASAN: slab-use-after-free in provoke_kasan_uaf (guests/modules/fixture_provoke.c:"),
        "the module's frame is not decoded:\n{excerpt}"
    );
    assert!(excerpt.contains("(kernel/module/main.c:"), "the loader's frames are not decoded:\n{excerpt}");

    // The module's init function is in .init.text, which, like .text,
    // starts at 0 in the .ko: its frame must name a line of its own body,
    // not whatever line of .text has the same offset.
    let source = std::fs::read_to_string(project_root().join("guests/modules/fixture_provoke.c")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let first = lines.iter().position(|l| l.contains("__init fixture_provoke_init(")).unwrap() + 1;
    let last = first + lines[first..].iter().position(|l| l.starts_with('}')).unwrap() + 1;
    let frame = excerpt
        .lines()
        .find(|l| l.contains(" fixture_provoke_init ("))
        .unwrap_or_else(|| panic!("no decoded fixture_provoke_init frame:\n{excerpt}"));
    // With inlining, the frame lists the inlined callees' lines first and
    // the init function's own line last.
    let own_line: usize = frame
        .rsplit("guests/modules/fixture_provoke.c:")
        .next()
        .filter(|_| frame.contains("guests/modules/fixture_provoke.c:"))
        .unwrap_or_else(|| panic!("the init frame does not name fixture_provoke.c: {frame}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    assert!(
        (first..=last).contains(&own_line),
        "{frame}: line {own_line} is outside fixture_provoke_init ({first}-{last})"
    );
}
