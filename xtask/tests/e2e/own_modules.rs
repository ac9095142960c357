//! A maintainer's own out-of-tree module under the rig, as the README's
//! "Test your own module" shows: `fixtures/user-module/` (a typical
//! out-of-tree Makefile) is built with `make M=` against the variant and
//! its modules join the stress modules in the guest; a directory that does
//! not compile says why.

use std::path::Path;

use crate::{events, project_root, scratch, xtask};

fn fixture(name: &str) -> String {
    project_root().join("fixtures").join(name).display().to_string()
}

/// The README's five lines: the module directory, the scenario copied from
/// fixtures/user-module/churn.yaml, one command, a verdict.
#[test]
fn your_own_module_runs_under_the_hammer_and_its_failing_init_is_an_outcome() {
    let results = scratch("own-module");
    let scenario = Path::new(&fixture("user-module")).join("churn.yaml");
    let out = xtask(&[
        "run",
        scenario.to_str().unwrap(),
        "--modules",
        &fixture("user-module"),
        "--results",
        results.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let events = events(&out);
    let record = &events.last().unwrap()["record"];
    assert_eq!(record["verdict"], "PASS", "{record:#}");
    let outcomes = &record["metrics"]["outcomes"];
    // The failing init is the step's outcome, with its errno.
    assert_eq!(outcomes["steps[0] (load modrig_example) = ENODEV"], 1, "{outcomes:#}");
    // The user's module was loaded and unloaded 20 times, under the hammer.
    assert_eq!(outcomes["steps[2].loop.steps[0] (load modrig_example) = ok"], 20, "{outcomes:#}");
    assert_eq!(outcomes["steps[2].loop.steps[1].loop.steps[0] (unload modrig_example) = ok"], 20, "{outcomes:#}");
    let ops = record["metrics"]["refcount_ops_per_sec"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "one get/put rate per CPU: {ops:?}");
    assert!(ops.iter().all(|cpu| cpu[1].as_f64().unwrap() > 0.0), "a CPU did not hammer: {ops:?}");

    // Without --modules, the scenario names a module nobody builds.
    let out = xtask(&["validate", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown module `modrig_example`: guests/modules and the module directories"), "{stderr}");
    let out = xtask(&["validate", scenario.to_str().unwrap(), "--modules", &fixture("user-module")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A module directory that does not compile: the rig's error names the
/// directory, the kernel it was built against and the variant, and shows
/// the compiler's error and the log's path. The kernel is not blamed.
#[test]
fn a_module_directory_that_does_not_compile_shows_the_compiler_error() {
    let results = scratch("own-module-broken");
    let out =
        xtask(&["run", "boot", "--modules", &fixture("user-module-broken"), "--results", results.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "module directory {} does not compile against Linux 6.12.",
            fixture("user-module-broken")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("(variant upstream)"), "{stderr}");
    assert!(stderr.contains("your module directory did not build against the kernel tree"), "{stderr}");
    assert!(stderr.contains("modrig_broken.c") && stderr.contains("error:"), "no compiler error: {stderr}");
    assert!(stderr.contains(".log"), "no log path: {stderr}");
    // Bad input, not the rig's failure: exit 1, no INFRA verdict.
    assert!(!stderr.contains("verdict: INFRA"), "{stderr}");
}

/// The kernel's own modules (kernel-configs/victims.config, in the default
/// variants' configs): null_blk loads after its dependency configfs, as
/// depmod's modules.dep says, and configfs cannot go while null_blk uses
/// it. A module the variant's kernel does not have is an error before any
/// boot that names the variant and where the rig looked, and `validate
/// --matrix` says the same from the cache.
#[test]
fn the_kernels_own_modules_load_in_dependency_order_and_a_missing_one_names_where_the_rig_looked() {
    let results = scratch("kernel-modules");
    let scenario = project_root().join("scenarios/null-blk-held-open.yaml");
    let out = xtask(&["run", scenario.to_str().unwrap(), "--results", results.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let events = events(&out);
    let record = &events.last().unwrap()["record"];
    assert_eq!(record["verdict"], "PASS", "{record:#}");
    let outcomes = &record["metrics"]["outcomes"];
    assert_eq!(outcomes["steps[1].loop.steps[0] (load null_blk) = ok"], 8, "{outcomes:#}");
    assert_eq!(outcomes["steps[1].loop.steps[1] (unload configfs) = EWOULDBLOCK"], 8, "{outcomes:#}");
    assert_eq!(outcomes["steps[3] (unload configfs) = ok"], 1, "{outcomes:#}");
    let console = std::fs::read_to_string(record["console_log"].as_str().unwrap()).unwrap();
    assert!(console.contains("null_blk: disk nullb0 created"), "null_blk never made its disk:\n{console}");

    let dir = scratch("kernel-modules-missing");
    let missing = dir.join("missing.yaml");
    std::fs::write(
        &missing,
        "name: missing-driver\ndescription: loads a driver the default kernels do not build\n\
         deadline: 60s\nkernel_modules: [dummy]\nsteps:\n  - load: dummy\n",
    )
    .unwrap();
    let out = xtask(&["run", missing.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loads the kernel's own module(s) `dummy`, which variant upstream does not have"),
        "{stderr}"
    );
    assert!(stderr.contains("modules.dep (its kernel, built from base.config, victims.config)"), "{stderr}");
    assert!(stderr.contains("which has brd, configfs, loop, null_blk"), "{stderr}");
    assert!(!stderr.contains("boot to agent ready"), "it booted before checking: {stderr}");

    let matrix = project_root().join("scenarios/matrix.yaml");
    let out = xtask(&["validate", "--matrix", matrix.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL  variant upstream (Linux 6.12."), "{stdout}");
    assert!(stdout.contains("has no dummy for `missing-driver`"), "{stdout}");
}
