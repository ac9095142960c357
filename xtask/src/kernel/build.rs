//! Builds one variant: cache lookup, source tree, patches, config, make,
//! export, stress modules.
//!
//! Layout under the cache root:
//! - `sources/<tree-key>/tree`: one git work tree per source (see `source`);
//! - `sources/<tree-key>/tree/.modrig-build-<recipe+config hash>/`: Kbuild's
//!   `O=` directory, shared by every variant with that source and config, so
//!   switching between variants recompiles only what their patches touch
//!   (inside the tree, so that ccache can share objects between trees; see
//!   `source`);
//! - `kernels/<key>/`: the finished variant (bzImage, vmlinux, System.map,
//!   config, `build/` for out-of-tree modules, `modules/<modules-key>/`,
//!   the kernel's own modules in `modroot/lib/modules/<release>/`,
//!   `build.log`, `manifest.json`), moved into place only when complete;
//! - `ccache/`: the compiler cache;
//! - `logs/`: logs of builds in progress or failed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use super::failure::{BuildFailure, BuildPart, FailedIn};
use super::{cache, catalog, decode, extmod, kconfig, patches, runlog, source, usermod};
use crate::fsutil::write_atomic;
use crate::hashing::sha256_hex;
use crate::progress::{BuildEvent, Progress, Reporter};
use crate::project;
use crate::variant::Variant;

/// What `manifest.json` of a built kernel records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelManifest {
    pub schema: u32,
    pub variant: String,
    pub key: String,
    pub source: String,
    pub source_identity: String,
    pub patches: Vec<PatchRecord>,
    pub configs: Vec<PathBuf>,
    pub kernel_release: String,
    pub toolchain: String,
    pub build_seconds: f64,
    pub objects_compiled: u64,
    pub built_at_unix: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchRecord {
    pub file: PathBuf,
    pub subject: Option<String>,
    pub sha256: String,
}

/// A variant whose kernel and stress modules are in the cache.
#[derive(Debug, Clone)]
pub struct BuiltKernel {
    pub variant: String,
    pub key: String,
    /// `kernels/<key>/`.
    pub dir: PathBuf,
    pub bzimage: PathBuf,
    /// The built stress modules (`*.ko`).
    pub modules_dir: PathBuf,
    /// The built modules of each of the user's module directories, in the
    /// order given (see `usermod`).
    pub user_modules: Vec<PathBuf>,
    /// The kernel's own modules (`make modules_install`, `depmod`).
    pub in_tree: catalog::Catalog,
    pub manifest: KernelManifest,
}

/// Settings shared by every variant of one `kernel build` run.
pub struct BuildEnv<'a> {
    pub sh: &'a Shell,
    pub cache: PathBuf,
    pub jobs: usize,
    /// `ccache gcc` when ccache is installed, else `gcc`.
    pub cc: String,
    pub toolchain: String,
    pub reporter: &'a dyn Reporter,
    /// The user's module directories, built against every variant.
    pub user_module_dirs: Vec<PathBuf>,
}

impl<'a> BuildEnv<'a> {
    pub fn new(sh: &'a Shell, cache: PathBuf, reporter: &'a dyn Reporter) -> Result<BuildEnv<'a>> {
        fs::create_dir_all(&cache).with_context(|| format!("cannot create cache directory {}", cache.display()))?;
        let gcc = cmd!(sh, "gcc --version").quiet().read().context("gcc not found: run `cargo xtask doctor`")?;
        let ld =
            cmd!(sh, "ld --version").quiet().read().context("ld (binutils) not found: run `cargo xtask doctor`")?;
        let toolchain = format!("{}\n{}", first_line(&gcc), first_line(&ld));
        let has_ccache = cmd!(sh, "ccache --version").quiet().ignore_stdout().ignore_stderr().run().is_ok();
        let cc = if has_ccache { "ccache gcc" } else { "gcc" }.to_string();
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(BuildEnv { sh, cache, jobs, cc, toolchain, reporter, user_module_dirs: Vec::new() })
    }

    pub(super) fn emit(&self, event: BuildEvent) {
        self.reporter.report(&Progress::Build(event));
    }

    fn stage(&self, variant: &Variant, stage: impl Into<String>) {
        self.emit(BuildEvent::Stage { variant: variant.name.clone(), stage: stage.into() });
    }

    /// Environment for every compiler call: the cache's own ccache and fixed
    /// build stamps, so that identical inputs give identical kernels. (No
    /// ccache base_dir: it would rewrite source paths to relative ones, and
    /// Kbuild's -fmacro-prefix-map would then no longer shorten them, so
    /// BUG/WARN reports would name cache paths instead of
    /// kernel/module/main.c:156.)
    pub(super) fn make_command(&self, dir: &Path, args: &[String]) -> Command {
        let cc = &self.cc;
        let mut command: Command = cmd!(self.sh, "make -C {dir} ARCH=x86_64 CC={cc} HOSTCC={cc} {args...}").into();
        command
            .env("CCACHE_DIR", self.cache.join("ccache"))
            .env("CCACHE_NOHASHDIR", "1")
            .env("CCACHE_MAXSIZE", "5G")
            .env("KBUILD_BUILD_USER", "modrig")
            .env("KBUILD_BUILD_HOST", "modrig")
            .env("KBUILD_BUILD_TIMESTAMP", "2024-11-17 00:00:00 UTC")
            .env("KBUILD_BUILD_VERSION", "1");
        command
    }
}

/// One variant's build, once its inputs are read and its key is known.
struct Job<'a> {
    variant: &'a Variant,
    source_id: source::SourceId,
    patches: Vec<patches::Patch>,
    merged: kconfig::Merged,
    key: String,
    /// `kernels/<key>/`, where the result is published.
    kernel_dir: PathBuf,
    log: PathBuf,
    started: Instant,
}

/// Builds (or finds in the cache) the kernel and stress modules of `variant`.
/// A failure of the kernel tree or of the stress modules carries a
/// [`BuildFailure`]; any other error is the rig's or the host's.
pub fn build_variant(env: &BuildEnv<'_>, variant: &Variant) -> Result<BuiltKernel> {
    let started = Instant::now();
    let result = build_variant_inner(env, variant, started).and_then(|mut built| {
        built.user_modules = usermod::build_all(env, &built, &env.user_module_dirs)?;
        Ok(built)
    });
    if let Err(error) = &result {
        let failure = error.downcast_ref::<BuildFailure>();
        env.emit(BuildEvent::Failed {
            variant: variant.name.clone(),
            part: failure.map(|f| f.part),
            log: failure.and_then(|f| f.log.clone()),
        });
    }
    result.with_context(|| format!("failed to build variant {}", variant.name))
}

/// What a variant's kernel is built from, read and identified, and the
/// cache key they give.
struct Identified {
    merged: kconfig::Merged,
    patch_list: Vec<patches::Patch>,
    source_id: source::SourceId,
    key: String,
}

fn identify(env: &BuildEnv<'_>, variant: &Variant) -> Result<Identified> {
    let merged = merge_fragments(&variant.configs)?;
    let patch_list = patches::expand(&variant.patches)?;
    env.stage(variant, format!("identifying {}", variant.source.describe()));
    let source_id = source::identify(env.sh, &variant.source, &env.cache)
        .with_context(|| format!("variant {}: cannot get its source ({})", variant.name, variant.source.describe()))?;
    let key =
        cache::variant_key(&cache::KeyInputs::new(&source_id.identity, &patch_list, &merged.render(), &env.toolchain));
    Ok(Identified { merged, patch_list, source_id, key })
}

fn build_variant_inner(env: &BuildEnv<'_>, variant: &Variant, started: Instant) -> Result<BuiltKernel> {
    let Identified { merged, patch_list, source_id, key } = identify(env, variant)?;
    let kernel_dir = env.cache.join("kernels").join(&key);
    let modules_key = cache::modules_key(&key, &read_module_sources()?);

    let kernel_cached = kernel_dir.join("manifest.json").is_file();
    if kernel_cached {
        let modules_dir = kernel_dir.join("modules").join(&modules_key);
        if modules_dir.is_dir() {
            let built = load_built(variant, &key, &kernel_dir, modules_dir)?;
            env.emit(BuildEvent::CacheHit {
                variant: variant.name.clone(),
                key: key.clone(),
                seconds: started.elapsed().as_secs_f64(),
                artifacts: kernel_dir.clone(),
            });
            return Ok(built);
        }
    }

    let logs = env.cache.join("logs");
    fs::create_dir_all(&logs)?;
    let log = logs.join(format!("{}-{}.log", variant.name, &key[..12]));
    fs::write(&log, format!("modrig build of variant {} (key {key})\n", variant.name))?;

    let mut objects_compiled = 0;
    if !kernel_cached {
        let job = Job {
            variant,
            source_id,
            patches: patch_list,
            merged,
            key: key.clone(),
            kernel_dir: kernel_dir.clone(),
            log: log.clone(),
            started,
        };
        objects_compiled = build_kernel(env, &job)?;
    }
    env.stage(variant, "building stress modules (guests/modules)");
    let modules_dir = build_modules(env, &kernel_dir, &modules_key, &log).with_context(|| {
        let release = read_manifest(&kernel_dir)
            .ok()
            .map_or_else(|| "this kernel".to_string(), |m| format!("Linux {}", m.kernel_release));
        format!(
            "the kernel built, but the stress modules do not compile against {release}: if a kernel API they use \
             changed, guard it in guests/modules/compat.h (the compiler's error and the log follow)"
        )
    })?;
    let built = load_built(variant, &key, &kernel_dir, modules_dir)?;
    env.emit(BuildEvent::Built {
        variant: variant.name.clone(),
        key,
        seconds: started.elapsed().as_secs_f64(),
        kernel_cached,
        objects_compiled,
        artifacts: kernel_dir,
        log,
    });
    Ok(built)
}

/// The kernel's own modules of `variant` if its kernel is in the cache,
/// without building anything: `None` when it is not built yet. (A Debian
/// source may still be fetched, to know its version.)
pub fn cached_catalog(env: &BuildEnv<'_>, variant: &Variant) -> Result<Option<(String, catalog::Catalog)>> {
    let key = identify(env, variant)?.key;
    let kernel_dir = env.cache.join("kernels").join(&key);
    if !kernel_dir.join("manifest.json").is_file() {
        return Ok(None);
    }
    let manifest = read_manifest(&kernel_dir)?;
    let catalog = catalog::Catalog::load(&kernel_dir, &manifest.kernel_release)?;
    Ok(Some((manifest.kernel_release, catalog)))
}

/// Runs `work` on the variant's source tree with its patches applied, holding
/// the tree's lock, and leaves the tree pristine afterwards whatever happens.
/// A patch that does not apply is the kernel tree's failure, logged in `log`.
fn with_patched_tree<T>(
    env: &BuildEnv<'_>,
    variant: &Variant,
    source_id: &source::SourceId,
    patch_list: &[patches::Patch],
    log: &Path,
    work: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let sh = env.sh;
    // One build at a time per source tree: the tree's checkout is shared.
    let sources = env.cache.join("sources");
    fs::create_dir_all(&sources)?;
    let lock = fs::File::create(sources.join(format!("{}.lock", source_id.tree_key)))?;
    if lock.try_lock().is_err() {
        env.stage(variant, "waiting for another modrig build of this source");
        lock.lock()?;
    }

    env.stage(variant, format!("preparing source tree ({})", variant.source.describe()));
    let tree = source::prepare_tree(sh, &variant.source, source_id, &env.cache)?;
    if !patch_list.is_empty() {
        env.stage(variant, format!("applying {} patch(es)", patch_list.len()));
        if let Err(error) = patches::apply(sh, &tree, patch_list) {
            source::reset(sh, &tree).context("could not reset the source tree after a failed patch")?;
            return Err(anyhow::anyhow!("{error:#}\n(the source tree was reset to its pristine state)"))
                .failed_in(BuildPart::Kernel, Some(log));
        }
    }
    let outcome = work(&tree);
    source::reset(sh, &tree)?;
    outcome
}

/// Configures the variant (patches applied, fragments merged, verified)
/// without compiling, and saves its `.config` under `<cache>/configs/`.
pub fn configure_variant(env: &BuildEnv<'_>, variant: &Variant) -> Result<PathBuf> {
    let Identified { merged, patch_list, source_id, .. } = identify(env, variant)?;
    let log = env.cache.join("logs").join(format!("{}-config.log", variant.name));
    fs::create_dir_all(env.cache.join("logs"))?;
    fs::write(&log, format!("modrig configure of variant {}\n", variant.name))?;
    let saved = env.cache.join("configs").join(format!("{}.config", variant.name));
    fs::create_dir_all(env.cache.join("configs"))?;
    // Copy while the tree's lock is held: the O= directory is shared.
    with_patched_tree(env, variant, &source_id, &patch_list, &log, |tree| {
        let out = configure(env, variant, tree, &merged, &log)?;
        fs::copy(out.join(".config"), &saved)?;
        Ok(())
    })
    .with_context(|| format!("failed to configure variant {}", variant.name))?;
    Ok(saved)
}

/// Writes the merged request into the shared `O=` directory of this source
/// and config, runs `allnoconfig` with it and `olddefconfig`, and checks that
/// every requested value survived. Returns the `O=` directory.
fn configure(
    env: &BuildEnv<'_>,
    variant: &Variant,
    tree: &Path,
    merged: &kconfig::Merged,
    log: &Path,
) -> Result<PathBuf> {
    let merged_text = merged.render();
    // The recipe version is part of the directory's name: a change in how
    // the rig builds (flags, environment) must not be met by make with
    // objects built the old way, which it would not know to redo.
    let dir_key = format!("recipe {}\n{merged_text}", cache::RECIPE_VERSION);
    let config_hash = &sha256_hex(dir_key.as_bytes())[..16];
    let out = tree.join(format!("{}{config_hash}", source::BUILD_DIR_PREFIX));
    fs::create_dir_all(&out)?;
    let out_arg = format!("O={}", out.display());

    env.stage(variant, "configuring");
    let fragment = out.join("modrig.fragment");
    fs::write(&fragment, &merged_text)?;
    let allconfig = format!("KCONFIG_ALLCONFIG={}", fragment.display());
    run_make(env, tree, &[out_arg.clone(), allconfig, "allnoconfig".into()], "make allnoconfig", log, |_, _| {})
        .failed_in(BuildPart::Kernel, Some(log))?;
    run_make(env, tree, &[out_arg, "olddefconfig".into()], "make olddefconfig", log, |_, _| {})
        .failed_in(BuildPart::Kernel, Some(log))?;
    let config_path = out.join(".config");
    let final_config =
        fs::read_to_string(&config_path).with_context(|| format!("cannot read {}", config_path.display()))?;
    let mismatches = kconfig::verify(&merged.settings, &final_config);
    if !mismatches.is_empty() {
        // An option this tree does not have (or drops) is the tree's failure.
        let version = source::kernel_version(tree).unwrap_or_else(|| "(version unknown)".to_string());
        return Err(anyhow::anyhow!("{}", explain_mismatches(&version, tree, &kconfig_files(tree), &mismatches)))
            .failed_in(BuildPart::Kernel, Some(log));
    }
    Ok(out)
}

fn build_kernel(env: &BuildEnv<'_>, job: &Job<'_>) -> Result<u64> {
    with_patched_tree(env, job.variant, &job.source_id, &job.patches, &job.log, |tree| {
        let out = configure(env, job.variant, tree, &job.merged, &job.log)?;
        make_and_export(env, job, tree, &out)
    })
}

/// Compiles in the configured `O=` directory and publishes the kernel's
/// artifacts as `kernels/<key>/`. Returns the number of objects compiled.
fn make_and_export(env: &BuildEnv<'_>, job: &Job<'_>, tree: &Path, out: &Path) -> Result<u64> {
    let Job { variant, source_id, patches: patch_list, merged, key, kernel_dir, log, started } = job;
    let merged_text = merged.render();
    let out_arg = format!("O={}", out.display());
    env.stage(variant, "compiling");
    let stats_file = out.join("modrig-stats.json");
    let estimate: Option<u64> = fs::read(&stats_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<BuildStats>(&b).ok())
        .map(|s| s.full_build_objects);
    let jobs = format!("-j{}", env.jobs);
    let objects = run_make(
        env,
        tree,
        &[out_arg, jobs, "bzImage".into(), "modules".into()],
        "make bzImage modules",
        log,
        |count, object| {
            env.emit(BuildEvent::Compiled {
                variant: variant.name.clone(),
                objects: count,
                estimate,
                last: object.to_string(),
            })
        },
    )
    .failed_in(BuildPart::Kernel, Some(log))?;
    if estimate.is_none_or(|e| objects > e) {
        write_atomic(&stats_file, &serde_json::to_vec(&BuildStats { full_build_objects: objects })?)?;
    }

    env.stage(variant, "exporting kernel and module build tree");
    let kernels = env.cache.join("kernels");
    // Leftovers of an interrupted build of this key (we hold the tree lock,
    // so no live build of this key owns them).
    let stale = format!(".{key}.tmp-");
    for entry in fs::read_dir(&kernels).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&stale) {
            fs::remove_dir_all(entry.path()).ok();
        }
    }
    let staging = kernels.join(format!(".{key}.tmp-{}", std::process::id()));
    fs::create_dir_all(&staging)?;
    // What the tree's build did not produce, or its export script (absent
    // from older trees) could not do, is the tree's failure.
    for (from, to) in [
        ("arch/x86/boot/bzImage", "bzImage"),
        ("vmlinux", "vmlinux"),
        ("System.map", "System.map"),
        (".config", "config"),
        ("Module.symvers", "Module.symvers"),
    ] {
        fs::copy(out.join(from), staging.join(to))
            .with_context(|| format!("build produced no {from} in {}", out.display()))
            .failed_in(BuildPart::Kernel, Some(log))?;
    }
    extmod::export(tree, out, &staging.join("build"), &env.cc, log).failed_in(BuildPart::Kernel, Some(log))?;
    // The tree's own decoder for stack traces (see `decode`), kept with
    // the kernel so that decoding needs no source tree.
    let decoder = tree.join("scripts").join(decode::SCRIPT);
    if decoder.is_file() {
        fs::copy(&decoder, staging.join(decode::SCRIPT))?;
    }
    let release_file = out.join("include/config/kernel.release");
    let kernel_release = fs::read_to_string(&release_file)
        .with_context(|| format!("build produced no {}", release_file.display()))
        .failed_in(BuildPart::Kernel, Some(log))?
        .trim()
        .to_string();
    install_modules(env, tree, out, &staging, &kernel_release, log).failed_in(BuildPart::Kernel, Some(log))?;
    let manifest = KernelManifest {
        schema: 1,
        variant: variant.name.clone(),
        key: key.to_string(),
        source: variant.source.describe(),
        source_identity: source_id.identity.clone(),
        patches: patch_list
            .iter()
            .map(|p| PatchRecord {
                file: p.file.clone(),
                subject: p.subject.clone(),
                sha256: sha256_hex(p.text.as_bytes()),
            })
            .collect(),
        configs: variant.configs.clone(),
        kernel_release,
        toolchain: env.toolchain.clone(),
        build_seconds: started.elapsed().as_secs_f64(),
        objects_compiled: objects,
        built_at_unix: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    };
    fs::write(staging.join("merged.fragment"), &merged_text)?;
    write_atomic(&staging.join("manifest.json"), &serde_json::to_vec_pretty(&manifest)?)?;
    // Publish: the directory appears complete or not at all. A concurrent
    // build of the same key may have won the race; its result is identical.
    if let Err(error) = fs::rename(&staging, kernel_dir) {
        if !kernel_dir.join("manifest.json").is_file() {
            return Err(error).context("cannot move the built kernel into the cache");
        }
        fs::remove_dir_all(&staging).ok();
    }
    Ok(objects)
}

/// Installs the variant's own modules (what its configs build `=m`) into
/// `staging/modroot`, where the tree's `modules_install` runs `depmod`, so
/// that scenarios can load them in dependency order (see `catalog`).
fn install_modules(
    env: &BuildEnv<'_>,
    tree: &Path,
    out: &Path,
    staging: &Path,
    release: &str,
    log: &Path,
) -> Result<()> {
    let root = staging.join(catalog::MODULES_ROOT);
    let args =
        [format!("O={}", out.display()), format!("INSTALL_MOD_PATH={}", root.display()), "modules_install".to_string()];
    run_make(env, tree, &args, "make modules_install", log, |_, _| {})?;
    let dir = catalog::modules_dir(staging, release);
    let built_some = fs::read_to_string(out.join("modules.order")).is_ok_and(|order| !order.trim().is_empty());
    if built_some && !dir.join("modules.dep").is_file() {
        anyhow::bail!(
            "`make modules_install` wrote no {}/modules.dep: depmod (package kmod) is missing; run `cargo xtask doctor`",
            dir.display()
        );
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct BuildStats {
    full_build_objects: u64,
}

fn run_make(
    env: &BuildEnv<'_>,
    tree: &Path,
    args: &[String],
    what: &str,
    log: &Path,
    on_object: impl FnMut(u64, &str),
) -> Result<u64> {
    runlog::run_logged(env.make_command(tree, args), what, log, on_object)
}

/// Builds `guests/modules` against the variant's exported build tree into
/// `kernels/<key>/modules/<modules-key>/`.
fn build_modules(env: &BuildEnv<'_>, kernel_dir: &Path, modules_key: &str, log: &Path) -> Result<PathBuf> {
    let target = kernel_dir.join("modules").join(modules_key);
    if target.is_dir() {
        return Ok(target);
    }
    let staging = kernel_dir.join("modules").join(format!(".{modules_key}.tmp-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    copy_dir(&project::guest_modules_dir(), &staging)?;
    let build_tree = kernel_dir.join("build");
    let args =
        [format!("M={}", staging.display()), "W=1".to_string(), format!("-j{}", env.jobs), "modules".to_string()];
    // Source paths stay absolute (no ccache base_dir), so guests/modules/
    // Kbuild's -fmacro-prefix-map turns them into `guests/modules/x.c`.
    let make = env.make_command(&build_tree, &args);
    if let Err(error) = runlog::run_logged(make, "make M=guests/modules", log, |_, _| {}) {
        fs::remove_dir_all(&staging).ok();
        return Err(error).failed_in(BuildPart::StressModules, Some(log));
    }
    let built: Vec<_> = fs::read_dir(&staging)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ko"))
        .collect();
    if built.is_empty() {
        return Err(anyhow::anyhow!("building guests/modules produced no .ko file (see {})", log.display()))
            .failed_in(BuildPart::StressModules, Some(log));
    }
    fs::rename(&staging, &target).or_else(|e| if target.is_dir() { fs::remove_dir_all(&staging) } else { Err(e) })?;
    fs::copy(log, kernel_dir.join("build.log")).ok();
    Ok(target)
}

/// The `manifest.json` of the cache entry `dir`.
fn read_manifest(dir: &Path) -> Result<KernelManifest> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("corrupt cache entry {}: remove it and build again", dir.display()))
}

fn load_built(variant: &Variant, key: &str, dir: &Path, modules_dir: PathBuf) -> Result<BuiltKernel> {
    let manifest = read_manifest(dir)?;
    Ok(BuiltKernel {
        variant: variant.name.clone(),
        key: key.to_string(),
        dir: dir.to_path_buf(),
        bzimage: dir.join("bzImage"),
        modules_dir,
        user_modules: Vec::new(),
        in_tree: catalog::Catalog::load(dir, &manifest.kernel_release)?,
        manifest,
    })
}

/// Reads and merges a variant's fragments; a malformed line is a located error.
pub fn merge_fragments(configs: &[PathBuf]) -> Result<kconfig::Merged> {
    let mut parsed = Vec::new();
    for path in configs {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read Kconfig fragment {}", path.display()))?;
        parsed.push(kconfig::parse(path, &text)?);
    }
    Ok(kconfig::merge(parsed.iter().map(|p| p.as_slice())))
}

/// Every file of `guests/modules` with its content, for the modules key.
fn read_module_sources() -> Result<Vec<(String, Vec<u8>)>> {
    let root = project::guest_modules_dir();
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if is_module_source(&path) {
                let rel = path.strip_prefix(&root)?.to_string_lossy().into_owned();
                files.push((rel, fs::read(&path)?));
            }
        }
    }
    Ok(files)
}

/// Sources, not the artifacts a developer's manual `make M=` leaves behind.
fn is_module_source(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "Kbuild" || name == "Makefile" || name.ends_with(".c") || name.ends_with(".h")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().expect("read_dir entries have names"));
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else if is_module_source(&path) {
            fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// Names each dropped symbol, what was asked and got, and the `depends on`
/// lines of its definition so the user sees why Kconfig dropped it.
/// Says, for Linux `version`, which requested options Kconfig did not keep,
/// where each is defined and what it depends on (or that this version has
/// no such symbol), and what to do about each kind.
fn explain_mismatches(
    version: &str,
    tree: &Path,
    kconfigs: &[(PathBuf, String)],
    mismatches: &[kconfig::Mismatch],
) -> String {
    let mut text =
        format!("Linux {version}: Kconfig did not keep every requested option (after allnoconfig + olddefconfig):");
    let mut undefined = Vec::new();
    for mismatch in mismatches {
        text.push_str(&format!("\n  {mismatch}"));
        let definition = kconfigs
            .iter()
            .find_map(|(file, content)| kconfig::definition_hint(content, &mismatch.symbol).map(|hints| (file, hints)));
        match definition {
            Some((file, hints)) => {
                let rel = file.strip_prefix(tree).unwrap_or(file);
                text.push_str(&format!("\n    defined in {}", rel.display()));
                for hint in hints {
                    text.push_str(&format!("\n    {hint}"));
                }
            }
            None => {
                text.push_str(&format!(
                    "\n    no Kconfig file of Linux {version} defines it: this version does not have it (renamed, \
                     dropped, or not there yet)"
                ));
                undefined.push(mismatch.symbol.as_str());
            }
        }
    }
    text.push_str("\nWhat to do: for an option that is defined, ask for what it depends on in the same fragment.");
    if !undefined.is_empty() {
        let lines: Vec<String> = undefined.iter().map(|s| format!("`# CONFIG_{s} is not set`")).collect();
        text.push_str(&format!(
            " For one this version lacks, keep the shared fragment as it is and give this variant one more fragment, \
             listed after it in its `configs:`, with {} (a later fragment wins, and an option this version lacks is \
             then what was asked)",
            lines.join(", ")
        ));
    }
    text
}

fn kconfig_files(tree: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != ".git" && !name.to_string_lossy().starts_with(source::BUILD_DIR_PREFIX) {
                    pending.push(path);
                }
            } else if name.to_string_lossy().starts_with("Kconfig") {
                if let Ok(content) = fs::read_to_string(&path) {
                    found.push((path, content));
                }
            }
        }
    }
    found
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_option_names_the_version_its_dependency_and_what_to_do() {
        let tree = Path::new("/t");
        let kconfigs = vec![(
            PathBuf::from("/t/kernel/module/Kconfig"),
            "config MODULE_FORCE_UNLOAD\n\tbool \"Forced unloading\"\n\tdepends on MODULE_UNLOAD\n".to_string(),
        )];
        let mismatches = [
            kconfig::Mismatch { symbol: "MODULE_FORCE_UNLOAD".into(), asked: "y".into(), got: None },
            kconfig::Mismatch { symbol: "HRTIMER_NEW".into(), asked: "y".into(), got: None },
        ];
        let text = explain_mismatches("6.1.192", tree, &kconfigs, &mismatches);
        assert!(text.starts_with("Linux 6.1.192: Kconfig did not keep every requested option"), "{text}");
        assert!(text.contains("defined in kernel/module/Kconfig\n    depends on MODULE_UNLOAD"), "{text}");
        assert!(
            text.contains(
                "CONFIG_HRTIMER_NEW: asked y, got absent from .config (dependencies not met, or no such symbol)\n    \
                 no Kconfig file of Linux 6.1.192 defines it"
            ),
            "{text}"
        );
        assert!(text.contains("with `# CONFIG_HRTIMER_NEW is not set`"), "{text}");
        assert!(!text.contains("`# CONFIG_MODULE_FORCE_UNLOAD is not set`"), "{text}");
    }
}
