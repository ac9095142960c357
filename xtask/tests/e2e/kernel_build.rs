//! Kernel variants: built for real from the default matrix, shared between
//! variants, cached; bad patches and dropped config symbols reported.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{cache_dir, default_source_tree, events, project_root, scratch, source_trees, xtask};

/// The terminal event (`built` or `cache_hit`) of each variant, in order.
fn outcomes(events: &[Value]) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| matches!(e["event"].as_str(), Some("built" | "cache_hit")))
        .map(|e| (e["variant"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn kernel_dir(event: &Value) -> PathBuf {
    PathBuf::from(event["artifacts"].as_str().unwrap())
}

/// The `vermagic=` string of a module, read from its .modinfo strings.
fn vermagic(ko: &Path) -> String {
    let bytes = fs::read(ko).unwrap();
    let needle = b"vermagic=";
    let start = bytes.windows(needle.len()).position(|w| w == needle).expect("module has no vermagic") + needle.len();
    let end = bytes[start..].iter().position(|&b| b == 0).unwrap() + start;
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

fn check_kernel(dir: &Path) {
    let bzimage = fs::read(dir.join("bzImage")).unwrap();
    assert_eq!(&bzimage[0x202..0x206], b"HdrS", "{}/bzImage is not a bzImage", dir.display());
    let config = fs::read_to_string(dir.join("config")).unwrap();
    for wanted in ["CONFIG_SMP=y", "CONFIG_MODULE_UNLOAD=y", "CONFIG_MODULE_FORCE_UNLOAD=y", "CONFIG_PREEMPT=y"] {
        assert!(config.lines().any(|l| l == wanted), "{wanted} missing from {}/config", dir.display());
    }
    assert!(config.contains("# CONFIG_JUMP_LABEL is not set"));

    let manifest: Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let release = manifest["kernel_release"].as_str().unwrap();
    assert!(release.starts_with("6.12"), "unexpected kernel release {release}");
    // The out-of-tree build tree is usable on its own.
    assert!(dir.join("build/Module.symvers").is_file());
    assert!(dir.join("build/include/generated/autoconf.h").is_file());

    let modules: Vec<PathBuf> = fs::read_dir(dir.join("modules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(modules.len(), 1, "expected one modules build in {}", dir.display());
    let ko = modules[0].join("victim_trivial.ko");
    let magic = vermagic(&ko);
    assert!(magic.starts_with(&format!("{release} SMP preempt mod_unload")), "vermagic of {}: {magic}", ko.display());
}

#[test]
fn default_variants_build_share_objects_and_then_hit_the_cache() {
    let first = xtask(&["kernel", "build", "--json"]);
    assert!(first.status.success(), "kernel build failed");
    let first = outcomes(&events(&first));
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["upstream", "stop-machine"], "one outcome per default variant, in matrix order");

    for (_, event) in &first {
        check_kernel(&kernel_dir(event));
    }
    let upstream = kernel_dir(&first[0].1);
    let stop_machine = kernel_dir(&first[1].1);
    assert_ne!(upstream, stop_machine, "the two variants must have different keys");

    // The baseline's patches really are in its kernel, and only there.
    let has_stop_unload = |dir: &Path| {
        let map = fs::read_to_string(dir.join("System.map")).unwrap();
        map.contains(" __try_stop_module\n") && map.contains(" __unlink_module\n")
    };
    assert!(has_stop_unload(&stop_machine), "stop-machine kernel lacks __try_stop_module/__unlink_module");
    assert!(!has_stop_unload(&upstream), "upstream kernel has the baseline's functions");
    let manifest: Value = serde_json::from_slice(&fs::read(stop_machine.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["patches"].as_array().unwrap().len(), 2);

    // When both were compiled in this run (a cold cache), the second one
    // reused the first one's objects instead of a second cold build.
    let compiled = |e: &Value| {
        (e["event"] == "built" && e["kernel_cached"] == false).then(|| e["objects_compiled"].as_u64().unwrap())
    };
    if let (Some(cold), Some(second)) = (compiled(&first[0].1), compiled(&first[1].1)) {
        eprintln!("objects compiled: upstream {cold}, stop-machine {second}");
        assert!(cold > 500, "a cold build compiles the whole kernel, got {cold} objects");
        assert!(second * 20 < cold, "stop-machine recompiled {second} of {cold} objects: not shared");
    }

    // The same call again is a pure cache hit with the same keys.
    let again = xtask(&["kernel", "build", "--json"]);
    assert!(again.status.success());
    let again = outcomes(&events(&again));
    assert_eq!(again.len(), 2);
    for ((_, before), (name, after)) in first.iter().zip(&again) {
        assert_eq!(after["event"], "cache_hit", "{name} was rebuilt on an identical second call");
        assert_eq!(after["key"], before["key"]);
    }
}

fn write_matrix(dir: &Path, body: &str) -> PathBuf {
    let file = dir.join("matrix.yaml");
    fs::write(&file, body).unwrap();
    file
}

#[test]
fn a_patch_that_does_not_apply_names_its_hunk_and_leaves_the_tree_clean() {
    let dir = scratch("bad-patch");
    let patch = project_root().join("fixtures/patches/does-not-apply.patch");
    let matrix = write_matrix(&dir, &format!("variants:\n  - name: broken\n    patches: [{}]\n", patch.display()));
    let out = xtask(&["kernel", "build", "--matrix", matrix.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "patch {} (\"[PATCH] module: a patch whose context is not in 6.12\") does not apply",
            patch.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hunk at kernel/module/main.c:700 fails\n@@ -700,3 +700,3 @@"), "{stderr}");
    assert!(stderr.contains("(the source tree was reset to its pristine state)"), "{stderr}");

    // The tree the patch was tried on: the default source's (its build
    // directories inside are not the tree's content).
    let tree = default_source_tree();
    let status = Command::new("git").arg("-C").arg(&tree).args(["status", "--porcelain"]).output().unwrap();
    assert!(status.status.success());
    assert_eq!(String::from_utf8_lossy(&status.stdout), "", "{} is not clean", tree.display());
}

#[test]
fn a_dropped_config_symbol_is_an_error_naming_it_and_its_dependency() {
    let dir = scratch("dropped-symbol");
    let fragment = project_root().join("fixtures/kconfig/drops-force-unload.config");
    let matrix =
        write_matrix(&dir, &format!("variants:\n  - name: dropped\n    configs: [base, {}]\n", fragment.display()));
    let out = xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "CONFIG_MODULE_FORCE_UNLOAD: asked y, got absent from .config (dependencies not met, or no such symbol)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("defined in kernel/module/Kconfig\n    depends on MODULE_UNLOAD"), "{stderr}");
    // The variant, the kernel version, and what to do.
    assert!(stderr.contains("failed to configure variant dropped"), "{stderr}");
    assert!(stderr.contains("Linux 6.12."), "{stderr}");
    assert!(stderr.contains("What to do: for an option that is defined, ask for what it depends on"), "{stderr}");
}

#[test]
fn the_debug_fragment_is_kept_whole_by_kconfig() {
    let dir = scratch("debug-config");
    let matrix = write_matrix(&dir, "variants:\n  - name: debug\n    configs: [base, debug]\n");
    let out = xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]);
    assert!(out.status.success(), "debug.config on top of base.config was not accepted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.trim().strip_prefix("debug: ").expect("`debug: PATH` on stdout");
    let config = fs::read_to_string(path).unwrap();
    for wanted in ["CONFIG_PROVE_LOCKING=y", "CONFIG_PROVE_RCU=y", "CONFIG_KASAN=y", "CONFIG_KFENCE=y", "CONFIG_SMP=y"]
    {
        assert!(config.lines().any(|l| l == wanted), "{wanted} missing from {path}");
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A kernel git repository of the test's own: a shared clone of the cached
/// tarball tree with one commit on top.
fn user_repo(name: &str) -> PathBuf {
    let dir = scratch(name);
    let repo = dir.join("linux");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--shared"])
        .arg(default_source_tree())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    let main_c = repo.join("kernel/module/main.c");
    let mut text = fs::read_to_string(&main_c).unwrap();
    text.push_str("/* modrig e2e: a user's commit */\n");
    fs::write(&main_c, text).unwrap();
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "user commit"]);
    repo
}

#[test]
fn a_git_source_is_built_from_its_own_worktree_without_touching_the_users() {
    let repo = user_repo("git-source");
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let matrix = write_matrix(
        repo.parent().unwrap(),
        &format!("variants:\n  - name: mine\n    source: {{ git: {}, ref: HEAD }}\n", repo.display()),
    );
    let out = xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]);
    assert!(out.status.success(), "configuring a git source failed");

    // The user's checkout is as it was.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    // modrig's own tree of it sits at the user's commit, pristine. (The
    // cache may hold other git trees, of earlier runs' repositories.)
    let pristine = |t: &Path| {
        Command::new("git")
            .arg("-C")
            .arg(t)
            .args(["rev-parse", "modrig-pristine^{commit}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let tree = source_trees()
        .into_iter()
        .filter(|t| t.parent().unwrap().file_name().unwrap().to_string_lossy().starts_with("git-"))
        .find(|t| pristine(t) == head)
        .expect("no git source tree at the user's commit in the cache");
    assert!(fs::read_to_string(tree.join("kernel/module/main.c")).unwrap().contains("a user's commit"));
}

#[test]
fn a_directory_source_is_copied_and_resynced_when_it_changes() {
    let dir = user_repo("dir-source");
    let matrix = write_matrix(
        dir.parent().unwrap(),
        &format!("variants:\n  - name: mydir\n    source: {{ dir: {} }}\n", dir.display()),
    );
    assert!(xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]).status.success());
    // This directory's tree: the one synced last (the cache may hold the
    // trees of earlier runs' directories).
    let tree = || {
        source_trees()
            .into_iter()
            .filter(|t| t.parent().unwrap().file_name().unwrap().to_string_lossy().starts_with("dir-"))
            .max_by_key(|t| fs::metadata(t.parent().unwrap().join("identity")).and_then(|m| m.modified()).ok())
            .expect("no directory source tree in the cache")
    };
    assert!(fs::read_to_string(tree().join("kernel/module/main.c")).unwrap().contains("a user's commit"));

    // An edit in the directory reaches the cached tree on the next use.
    let main_c = dir.join("kernel/module/main.c");
    let mut text = fs::read_to_string(&main_c).unwrap();
    text.push_str("/* modrig e2e: edited in place */\n");
    fs::write(&main_c, text).unwrap();
    assert!(xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]).status.success());
    assert!(fs::read_to_string(tree().join("kernel/module/main.c")).unwrap().contains("edited in place"));
    assert_eq!(git(&tree(), &["status", "--porcelain"]), "");
}

/// A Debian source package the archive does not have: the error names the
/// variant and lists the linux-source packages Debian's archive has (read
/// with the rig's own apt lists; the network to deb.debian.org is needed).
#[test]
fn an_unknown_debian_package_lists_the_ones_the_archive_has() {
    let dir = scratch("debian-unknown");
    let matrix = write_matrix(&dir, "variants:\n  - name: future\n    source: { debian: linux-source-0.1 }\n");
    let out = xtask(&["kernel", "config", "--matrix", matrix.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("cannot read Debian's package lists"),
        "Debian's archive could not be reached from here: {stderr}"
    );
    assert!(stderr.contains("variant future: cannot get its source (Debian package linux-source-0.1)"), "{stderr}");
    assert!(stderr.contains("Debian's archive has no package `linux-source-0.1`"), "{stderr}");
    // Debian 12 carries 6.1 and (through its security suite) 6.12.
    for package in ["linux-source-6.1 ", "linux-source-6.12 "] {
        assert!(stderr.contains(package), "{package} is not listed: {stderr}");
    }
    // The host's apt configuration was not used: the rig's own is in the cache.
    assert!(cache_dir().join("debian/sources.list").is_file());
}

/// Debian's archive out of reach (here: a mirror nothing listens on, and a
/// cache without earlier package lists): one line that names the variant,
/// the package, the mirror and apt's reason.
#[test]
fn an_unreachable_archive_is_one_line_naming_the_mirror() {
    let dir = scratch("debian-unreachable");
    let matrix = write_matrix(&dir, "variants:\n  - name: mainline\n    source: { debian: linux-source-7.2 }\n");
    let cache = dir.join("cache");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["kernel", "config", "--matrix", matrix.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()])
        .env("MODRIG_DEBIAN_MIRROR", "http://127.0.0.1:9")
        .current_dir(project_root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(
            "error: variant mainline: cannot get its source (Debian package linux-source-7.2): cannot reach Debian's \
             archive at http://127.0.0.1:9 (MODRIG_DEBIAN_MIRROR names another mirror): "
        ),
        "{stderr}"
    );
    assert!(errors[0].contains("127.0.0.1"), "apt's reason is missing: {stderr}");
}
