//! Guests: real kernels booted under QEMU (TCG on CI), one verdict per
//! fixture, the evidence kept, and no QEMU left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{cache_dir, project_root, scratch, xtask};

/// Runs `cargo xtask run SCENARIO --json` into its own results directory and
/// returns (exit code, verdict.json).
fn run(scenario: &str) -> (i32, Value) {
    let (code, verdict, _) = run_with_events(scenario);
    (code, verdict)
}

/// [`run`], and the progress events it printed (`--json`: one per line on
/// stdout, the last one `run_finished` with the record).
fn run_with_events(scenario: &str) -> (i32, Value, Vec<Value>) {
    let label: String =
        scenario.rsplit('/').next().unwrap().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let results = scratch(&format!("run-{label}"));
    let out = xtask(&["run", scenario, "--variant", "upstream", "--results", results.to_str().unwrap(), "--json"]);
    let code = out.status.code().expect("xtask run was killed by a signal");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("`run --json` printed a non-JSON line ({e}): {line}"))
        })
        .collect();
    for event in &events {
        assert!(event["event"].is_string(), "every JSON line names its event: {event}");
    }
    let last = events.last().unwrap_or_else(|| panic!("`run {scenario} --json` printed nothing"));
    assert_eq!(last["event"], "run_finished", "the last event carries the verdict: {last}");
    let verdict = last["record"].clone();
    // The record in the last event is the verdict.json of the run directory.
    let dirs: Vec<PathBuf> = fs::read_dir(&results).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "one run directory per run");
    let stored: Value = serde_json::from_slice(&fs::read(dirs[0].join("verdict.json")).unwrap()).unwrap();
    assert_eq!(stored, verdict);
    assert_no_qemu_left();
    (code, verdict, events)
}

/// The names of `events`, in order.
fn event_names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

fn console(verdict: &Value) -> String {
    fs::read_to_string(verdict["console_log"].as_str().unwrap()).unwrap()
}

fn events_of_class<'a>(verdict: &'a Value, class: &str) -> Vec<&'a Value> {
    verdict["kernel_events"].as_array().unwrap().iter().filter(|e| e["class"] == class).collect()
}

/// No QEMU started from this project's cache may be running.
fn assert_no_qemu_left() {
    let cache = cache_dir();
    let cache = cache.to_string_lossy();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !(cmdline.starts_with("qemu-system") && cmdline.contains(cache.as_ref())),
            "a QEMU is still running: pid {} {cmdline}",
            entry.file_name().to_string_lossy()
        );
    }
}

#[test]
fn load_and_unload_of_the_trivial_module_passes() {
    let (code, verdict, events) = run_with_events("load-unload");
    // The progress events: the kernel build's (here a cache hit), then the
    // boot, each step once (load, parallel, its two reads, unload, the read
    // of /proc/modules for `absent`), the cell's end with its verdict, the
    // record.
    let names = event_names(&events);
    let cell = names.iter().position(|n| *n == "cell_started").unwrap_or_else(|| panic!("no cell: {events:#?}"));
    assert!(names[..cell].contains(&"cache_hit") || names[..cell].contains(&"built"), "{events:#?}");
    assert!(names[..cell].iter().all(|n| ["stage", "cache_hit", "built"].contains(n)), "{events:#?}");
    assert_eq!(names[cell..cell + 3], ["cell_started", "boot_started", "boot_ready"], "{events:#?}");
    assert_eq!(names[names.len() - 2..], ["cell_ended", "run_finished"], "{events:#?}");
    assert_eq!(events[cell + 3]["what"], "load /modules/victim_trivial.ko");
    let mut steps: Vec<u64> =
        events.iter().filter(|e| e["event"] == "step").map(|e| e["step"].as_u64().unwrap()).collect();
    steps.sort();
    assert_eq!(steps, [0, 1, 2, 3, 4, 5], "{events:#?}");
    assert_eq!(events[events.len() - 2]["verdict"], "PASS");
    assert_eq!(verdict["verdict"], "PASS", "{verdict:#}");
    assert_eq!(code, 0);
    assert_eq!(verdict["end"]["end"], "done");
    assert!(verdict["reasons"].as_array().unwrap().is_empty());
    assert!(verdict["kernel_events"].as_array().unwrap().is_empty(), "{verdict:#}");
    assert!(verdict["boot_to_ready_ms"].as_f64().unwrap() > 0.0);
    assert!(!verdict["accel"]["how"].as_str().unwrap().is_empty(), "the accelerator choice is recorded");
    // The agent's events: both syscalls returned 0, with real durations.
    let events = fs::read_to_string(verdict["events_log"].as_str().unwrap()).unwrap();
    let syscalls: Vec<Value> =
        events.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|e| e["event"] == "syscall").collect();
    let names: Vec<&str> = syscalls.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["finit_module", "delete_module"]);
    for call in &syscalls {
        assert_eq!(call["ret"], 0);
        assert!(call["duration_ns"].as_u64().unwrap() > 0);
    }
    // The two refcount reads ran on threads pinned to CPUs 0 and 1.
    let mut read_cpus: Vec<u64> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "file_read" && e["path"] == "/sys/module/victim_trivial/refcnt")
        .map(|e| e["cpu"].as_u64().unwrap())
        .collect();
    read_cpus.sort();
    assert_eq!(read_cpus, [0, 1]);
    assert!(console(&verdict).contains("MODRIG-INIT-READY"));
}

#[test]
fn a_module_that_panics_in_init_is_a_panic_with_its_excerpt() {
    let (code, verdict) = run("fixture-panic-in-init");
    assert_eq!(verdict["verdict"], "PANIC", "{verdict:#}");
    assert_eq!(code, 12);
    let panics = events_of_class(&verdict, "panic");
    assert_eq!(panics.len(), 1, "{verdict:#}");
    let excerpt = panics[0]["excerpt"].as_str().unwrap();
    assert!(excerpt.contains("Kernel panic - not syncing: modrig fixture: panic in init"), "{excerpt}");
    assert!(excerpt.contains("fixture_panic_init"), "the excerpt has the call trace: {excerpt}");
    // base.config has no debug info: the frames stay as printed, and the
    // excerpt's first line says why.
    assert!(
        excerpt.starts_with("(modrig: frames not decoded to file:line: this kernel has no debug info;"),
        "{excerpt}"
    );
    assert!(verdict["reasons"][0].as_str().unwrap().contains("modrig fixture: panic in init"));
}

#[test]
fn a_module_whose_exit_never_returns_is_a_hang_with_sysrq_dumps() {
    let (code, verdict, events) = run_with_events("fixture-hang-in-exit");
    assert_eq!(verdict["verdict"], "HANG", "{verdict:#}");
    assert_eq!(code, 11);
    // The progress events said what the rig saw and did, as it happened.
    let fired: Vec<&Value> = events.iter().filter(|e| e["event"] == "detector_fired").collect();
    assert!(
        fired.first().is_some_and(|e| e["what"].as_str().unwrap().contains("blocked for more than")),
        "{events:#?}"
    );
    let sysrq: Vec<&str> =
        events.iter().filter(|e| e["event"] == "sysrq_sent").map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(sysrq, ["w", "l", "t"]);
    // The kernel's own detector caught it first, naming the task.
    let hung = events_of_class(&verdict, "hung_task");
    assert!(!hung.is_empty(), "no hung-task report: {verdict:#}");
    assert!(hung[0]["excerpt"].as_str().unwrap().contains("fixture_hang_exit_exit"));
    // The sysrq dumps asked for before the kill are in the console log.
    let text = console(&verdict);
    for dump in ["sysrq: Show Blocked State", "sysrq: Show backtrace of all active CPUs", "sysrq: Show State"] {
        assert!(text.contains(dump), "console lacks `{dump}`");
    }
    let blocked = &text[text.find("sysrq: Show Blocked State").unwrap()..];
    assert!(blocked.contains("fixture_hang_exit_exit"), "the blocked-state dump shows the stuck exit");
}

#[test]
fn a_module_that_warns_fails_the_run_naming_the_warning() {
    let (code, verdict) = run("fixture-warn");
    assert_eq!(verdict["verdict"], "FAIL", "{verdict:#}");
    assert_eq!(code, 10);
    let warnings = events_of_class(&verdict, "warning");
    assert_eq!(warnings.len(), 1, "{verdict:#}");
    let excerpt = warnings[0]["excerpt"].as_str().unwrap();
    assert!(excerpt.contains("modrig fixture: warning in init"), "{excerpt}");
    assert!(excerpt.contains("fixture_warn_init"), "{excerpt}");
    let reason = verdict["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("kernel log: warning: WARNING: CPU: "), "{reason}");
    assert!(reason.contains("fixture_warn"), "{reason}");
}

/// Waits until some console.log under `dir` contains `needle`.
fn wait_for_console(dir: &Path, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if fs::read_to_string(entry.path().join("console.log")).is_ok_and(|t| t.contains(needle)) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn interrupting_a_run_kills_its_qemu() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let results = scratch(&format!("interrupt-{signal}"));
        // The hanging fixture keeps the guest busy for half a minute.
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["run", "fixture-hang-in-exit", "--variant", "upstream", "--results", results.to_str().unwrap()])
            .env("MODRIG_CACHE_DIR", cache_dir())
            .current_dir(project_root())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_for_console(&results, "fixture_hang_exit: exit will never return", Duration::from_secs(180)),
            "the guest never reached the hanging unload"
        );
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "signal {signal}: {status}");
        assert_no_qemu_left();
    }
}

#[test]
fn the_shell_gives_a_console_with_the_stress_modules() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(["shell", "--variant", "upstream"]).env("MODRIG_CACHE_DIR", cache_dir()).current_dir(project_root());
    let mut session = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options::default().timeout_ms(Some(180_000)).strip_ansi_escape_codes(true),
    )
    .unwrap();
    session.exp_string("modrig shell: the stress modules (and yours, with --modules) are in /modules").unwrap();
    session.exp_string("# ").unwrap();
    session.send_line("insmod /modules/victim_trivial.ko && cat /proc/modules").unwrap();
    session.exp_regex(r"victim_trivial \d+ 0 - Live").unwrap();
    session.send_line("rmmod victim_trivial && echo unloaded-ok").unwrap();
    session.exp_string("unloaded-ok").unwrap();
    // The kernel's own modules, with their dependencies (modules.dep).
    session.send_line("modprobe null_blk && ls /dev/nullb0 && rmmod null_blk configfs && echo modprobe-ok").unwrap();
    session.exp_string("modprobe-ok").unwrap();
    session.send_line("poweroff -f").unwrap();
    session.exp_string("modrig shell: QEMU exited").unwrap();
    session.exp_eof().unwrap();
    assert_no_qemu_left();
}

#[test]
fn a_scenario_file_runs_and_reports_its_metrics() {
    let (code, verdict) = run("rmmod-latency");
    assert_eq!(verdict["verdict"], "PASS", "{verdict:#}");
    assert_eq!(code, 0);
    let metrics = &verdict["metrics"];
    let unloads = metrics["unload_latency_ns"].as_array().unwrap();
    let loads = metrics["load_latency_ns"].as_array().unwrap();
    assert_eq!((unloads.len(), loads.len()), (30, 30), "one sample per load and unload");
    // An unload waits for an RCU grace period: never free, never absurd.
    for ns in unloads.iter().map(|v| v.as_u64().unwrap()) {
        assert!((10_000..10_000_000_000).contains(&ns), "implausible unload latency {ns} ns");
    }
    assert_eq!(metrics["outcomes"]["steps[0].loop.steps[1] (unload victim_trivial) = ok"], 30);
    assert!(metrics["cycles_per_sec"].as_f64().unwrap() > 0.0);
}

/// Every scenario in scenarios/ passes on the default upstream kernel at
/// its default vCPU count, and the metrics it asks for are present and
/// plausible.
#[test]
fn every_shipped_scenario_passes_with_plausible_metrics() {
    let mut files: Vec<PathBuf> = fs::read_dir(project_root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        // Matrices (matrix.yaml, mainline.yaml) live beside the scenarios.
        .filter(|p| !fs::read_to_string(p).unwrap().lines().any(|l| l.starts_with("variants:")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the shipped scenarios, found {files:?}");
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let asked: Vec<String> = text
            .lines()
            .find_map(|l| l.strip_prefix("metrics: ["))
            .map(|l| l.trim_end_matches(']').split(',').map(|m| m.trim().to_string()).collect())
            .unwrap_or_default();
        let (code, verdict) = run(file.to_str().unwrap());
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(verdict["verdict"], "PASS", "{name}: {verdict:#}");
        assert_eq!(code, 0);
        let metrics = &verdict["metrics"];
        let samples = |key: &str| metrics[key].as_array().unwrap_or_else(|| panic!("{name}: no {key}")).clone();
        for metric in &asked {
            match metric.as_str() {
                "unload_latency" | "load_latency" => {
                    let key = format!("{metric}_ns");
                    let values = samples(&key);
                    assert!(!values.is_empty(), "{name}: {key} is empty");
                    assert!(values.iter().all(|v| v.as_u64().unwrap() > 0), "{name}: a zero latency");
                }
                "stall_other_cpus" => {
                    let values = samples("stall_other_cpus_ns");
                    // The stall scenarios take 30-40 windows per boot (the
                    // statistics count boots, not windows).
                    assert!(values.len() >= 25, "{name}: only {} unload windows measured", values.len());
                }
                "refcount_ops" => {
                    let per_cpu = samples("refcount_ops_per_sec");
                    assert!(!per_cpu.is_empty(), "{name}: no hammer stats");
                    assert!(
                        per_cpu.iter().all(|p| p[1].as_u64().unwrap() > 1000),
                        "{name}: implausible ops/s {per_cpu:?}"
                    );
                }
                "cycles_per_sec" => assert!(metrics["cycles_per_sec"].as_f64().unwrap() > 0.0, "{name}"),
                "outcomes" => assert!(!metrics["outcomes"].as_object().unwrap().is_empty(), "{name}"),
                other => panic!("{name}: the test does not know metric {other}"),
            }
        }
    }
}

/// The reproducer of a kernel race the rig found (scenarios/bugs/): a
/// symbol_get() loop while the exporting module is reloaded hits
/// BUG_ON(UNFORMED) in strong_try_module_get(). The rig must call it PANIC
/// and name the kernel's own file and line.
#[test]
fn the_symbol_get_race_reproducer_panics_with_the_kernel_bug() {
    let (code, verdict) = run(project_root().join("scenarios/bugs/symbol-get-churn.yaml").to_str().unwrap());
    assert_eq!(verdict["verdict"], "PANIC", "{verdict:#}");
    assert_eq!(code, 12);
    let bugs = events_of_class(&verdict, "bug");
    assert!(!bugs.is_empty(), "{verdict:#}");
    let excerpt = bugs[0]["excerpt"].as_str().unwrap();
    assert!(excerpt.contains("kernel BUG at kernel/module/main.c:"), "{excerpt}");
    assert!(excerpt.contains("__symbol_get"), "{excerpt}");
}
