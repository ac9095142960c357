//! Kernel sources: their identity (for cache keys) and the cached git work
//! tree each one is built from.
//!
//! Every source becomes a git work tree under `<cache>/sources/<tree-key>/`,
//! tagged `modrig-pristine` at the source's own content. Variants apply their
//! patches on top and the tree is reset afterwards, so one tree serves every
//! variant of a source and a build directory can be reused incrementally.
//!
//! Kbuild's `O=` directories live inside the tree, one per configuration
//! (`<tree>/.modrig-build-<config>/`, see [`BUILD_DIR_PREFIX`]): a build
//! directory that is a direct child of the source tree makes Kbuild use
//! the relative `..` as its source path, so the compiler's command lines
//! are the same in every tree, and ccache (which does not hash the working
//! directory here) serves one tree's objects to another with the same
//! content: the first build of a git tree made from a cached source (a
//! user's clone, a bisect) is mostly cache hits. Resets and imports leave
//! these directories alone.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xshell::{cmd, Shell};

use super::debian;
use crate::hashing::{hex, sha256_hex};
use crate::variant::Source;

const PRISTINE_TAG: &str = "modrig-pristine";

/// The name prefix of the build directories inside a source tree.
pub const BUILD_DIR_PREFIX: &str = ".modrig-build-";

/// A source's identity: what its content is (`identity`, part of every
/// variant's cache key) and which cached tree builds it (`tree_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceId {
    pub identity: String,
    pub tree_key: String,
    /// The tarball a tarball or Debian source is imported from.
    pub tarball: Option<PathBuf>,
}

/// Computes the identity of `source` without preparing a tree. Cheap when
/// nothing changed: tarball hashes are memoised by path, size and mtime.
pub fn identify(sh: &Shell, source: &Source, cache: &Path) -> Result<SourceId> {
    match source {
        Source::Tarball(path) => {
            let sha = memoised_sha256(cache, path)?;
            Ok(SourceId {
                identity: format!("tarball:sha256:{sha}"),
                tree_key: format!("tarball-{}", &sha[..16]),
                tarball: Some(path.clone()),
            })
        }
        Source::Debian { package } => {
            let fetched = debian::fetch(sh, package, cache)?;
            let sha = memoised_sha256(cache, &fetched.tarball)?;
            Ok(SourceId {
                identity: format!("debian:{package}={}:sha256:{sha}", fetched.version),
                // The same tarball installed under /usr/src shares the tree.
                tree_key: format!("tarball-{}", &sha[..16]),
                tarball: Some(fetched.tarball),
            })
        }
        Source::Git { repo, rev } => {
            let spec = format!("{rev}^{{commit}}");
            let commit = cmd!(sh, "git -C {repo} rev-parse --verify --quiet {spec}")
                .quiet()
                .read()
                .with_context(|| format!("`{rev}` is not a commit in git repository {}", repo.display()))?;
            let repo = fs::canonicalize(repo)?;
            Ok(SourceId {
                identity: format!("git:{commit}"),
                tree_key: format!("git-{}", short_hash(path_bytes(&repo))),
                tarball: None,
            })
        }
        Source::Dir(dir) => {
            let dir =
                fs::canonicalize(dir).with_context(|| format!("cannot open source directory {}", dir.display()))?;
            check_unbuilt(&dir)?;
            let listing = list_tree(&dir)?;
            let digest = sha256_hex(serde_json::to_string(&listing)?.as_bytes());
            Ok(SourceId {
                identity: format!("dir:listing:{digest}"),
                tree_key: format!("dir-{}", short_hash(path_bytes(&dir))),
                tarball: None,
            })
        }
    }
}

/// Makes `<cache>/sources/<tree_key>/tree` a git work tree at the source's
/// pristine content, importing or updating it as needed, and returns its path.
/// The caller holds the tree's lock.
pub fn prepare_tree(sh: &Shell, source: &Source, id: &SourceId, cache: &Path) -> Result<PathBuf> {
    let home = cache.join("sources").join(&id.tree_key);
    let tree = home.join("tree");
    match source {
        Source::Tarball(_) | Source::Debian { .. } => {
            if !tree.join(".git").is_dir() {
                let tarball = id.tarball.as_deref().context("a tarball source without its tarball")?;
                import_tarball(sh, tarball, &home)?;
            }
        }
        Source::Git { repo, .. } => {
            // The cache's clone borrows the repository's objects: if that
            // repository was deleted and made again at the same path (a new
            // clone, a scratch tree), the borrowed objects are gone, and the
            // clone is made again.
            if tree.join(".git").exists() && !has_head_commit(sh, &tree) {
                fs::remove_dir_all(&tree).with_context(|| format!("cannot remove {}", tree.display()))?;
            }
            if !tree.join(".git").exists() {
                fs::create_dir_all(&home)?;
                cmd!(sh, "git clone --quiet --shared --no-checkout {repo} {tree}").run()?;
                no_background_git(sh, &tree)?;
            }
            let commit = id.identity.trim_start_matches("git:");
            cmd!(sh, "git -C {tree} tag -f {PRISTINE_TAG} {commit}").quiet().ignore_stdout().run()?;
        }
        Source::Dir(dir) => sync_directory(sh, dir, &home, &id.identity)?,
    }
    ignore_build_dirs(&tree)?;
    reset(sh, &tree)?;
    Ok(tree)
}

/// Whether the tree's HEAD names a commit whose object git can read.
fn has_head_commit(sh: &Shell, tree: &Path) -> bool {
    let head = "HEAD^{commit}";
    cmd!(sh, "git -C {tree} cat-file -e {head}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

/// Makes `git status` of the tree ignore its build directories.
fn ignore_build_dirs(tree: &Path) -> Result<()> {
    let exclude = tree.join(".git/info/exclude");
    let line = format!("/{BUILD_DIR_PREFIX}*/");
    let text = fs::read_to_string(&exclude).unwrap_or_default();
    if !text.lines().any(|l| l == line) {
        fs::create_dir_all(exclude.parent().expect("a path under .git"))?;
        fs::write(
            &exclude,
            format!("{text}{}{line}\n", if text.is_empty() || text.ends_with('\n') { "" } else { "\n" }),
        )
        .with_context(|| format!("cannot write {}", exclude.display()))?;
    }
    Ok(())
}

/// The kernel version a source tree's top Makefile declares (`6.1.192`,
/// `7.2.13`, `7.3.0-rc2`), for messages; `None` if it cannot be read.
pub fn kernel_version(tree: &Path) -> Option<String> {
    version_of_makefile(&fs::read_to_string(tree.join("Makefile")).ok()?)
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` and `EXTRAVERSION` from the top Makefile's text.
pub fn version_of_makefile(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let (version, patchlevel) = (field("VERSION")?, field("PATCHLEVEL")?);
    let sublevel = field("SUBLEVEL").filter(|s| !s.is_empty()).unwrap_or_else(|| "0".to_string());
    if version.is_empty() || patchlevel.is_empty() {
        return None;
    }
    Some(format!("{version}.{patchlevel}.{sublevel}{}", field("EXTRAVERSION").unwrap_or_default()))
}

/// Puts the tree back to its pristine content, dropping applied patches and
/// any file they created.
pub fn reset(sh: &Shell, tree: &Path) -> Result<()> {
    cmd!(sh, "git -C {tree} checkout --quiet --force --detach {PRISTINE_TAG}").quiet().run()?;
    let keep = format!("/{BUILD_DIR_PREFIX}*/");
    cmd!(sh, "git -C {tree} clean -fdxq -e {keep}").quiet().run()?;
    Ok(())
}

/// `git init` for a cache tree, without background maintenance.
fn init_repo(sh: &Shell, dir: &Path) -> Result<()> {
    cmd!(sh, "git -C {dir} init --quiet --initial-branch=modrig").quiet().run()?;
    no_background_git(sh, dir)
}

/// Committing 90,000 files makes git start `gc --auto` in the background,
/// which locks HEAD while it works; a checkout of ours then fails, and a gc
/// whose repository is moved (the import renames it into place) dies and
/// leaves HEAD.lock behind for good. The cache's trees never need gc.
fn no_background_git(sh: &Shell, dir: &Path) -> Result<()> {
    cmd!(sh, "git -C {dir} config gc.auto 0").quiet().run()?;
    cmd!(sh, "git -C {dir} config maintenance.auto false").quiet().run()?;
    Ok(())
}

fn git_commit_all(sh: &Shell, tree: &Path, message: &str) -> Result<()> {
    // Debian's kernel tarball ignores everything at top level (`/*`), hence -f.
    let builds = format!(":(top,exclude){BUILD_DIR_PREFIX}*");
    cmd!(sh, "git -C {tree} add -A -f -- . {builds}").quiet().run()?;
    cmd!(
        sh,
        "git -C {tree} -c user.name=modrig -c user.email=modrig@localhost -c commit.gpgsign=false commit --quiet --allow-empty --no-verify -m {message}"
    )
    .quiet()
    .run()?;
    cmd!(sh, "git -C {tree} tag -f {PRISTINE_TAG}").quiet().ignore_stdout().run()?;
    Ok(())
}

fn import_tarball(sh: &Shell, tarball: &Path, home: &Path) -> Result<()> {
    let staging = home.with_extension("importing");
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    cmd!(sh, "tar -xf {tarball} -C {staging}")
        .quiet()
        .run()
        .with_context(|| format!("cannot extract {}", tarball.display()))?;
    // A kernel tarball has one top-level directory; accept a flat one too.
    let entries: Vec<PathBuf> = fs::read_dir(&staging)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let root = match entries.as_slice() {
        [only] if only.is_dir() => only.clone(),
        _ => staging.clone(),
    };
    if !root.join("Makefile").is_file() || !root.join("kernel/module").is_dir() {
        bail!(
            "{} does not look like a kernel source tarball (no Makefile and kernel/module/ at its top)",
            tarball.display()
        );
    }
    init_repo(sh, &root)?;
    let message = format!("modrig: import {}", tarball.display());
    git_commit_all(sh, &root, &message)?;
    fs::create_dir_all(home)?;
    let tree = home.join("tree");
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    fs::rename(&root, &tree)?;
    fs::remove_dir_all(&staging).ok();
    Ok(())
}

/// A directory tree as `relative path -> (size, mtime ns)`, skipping `.git`.
type Listing = BTreeMap<String, (u64, u128)>;

fn list_tree(dir: &Path) -> Result<Listing> {
    let mut listing = Listing::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).with_context(|| format!("cannot list {}", current.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    pending.push(path);
                }
            } else {
                let meta = fs::symlink_metadata(&path)?;
                let mtime = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
                let rel = path.strip_prefix(dir)?.to_string_lossy().into_owned();
                listing.insert(rel, (meta.len(), mtime));
            }
        }
    }
    Ok(listing)
}

/// An in-place build leaves `.config` behind, and Kbuild refuses to build
/// out of tree from such a source (`make mrproper` is its fix).
fn check_unbuilt(dir: &Path) -> Result<()> {
    if dir.join(".config").exists() || dir.join("include/config").exists() {
        bail!(
            "source directory {} has been configured or built in place (found .config or include/config); run `make mrproper` there, or use it as a git source",
            dir.display()
        );
    }
    Ok(())
}

/// Mirrors `dir` into the cached git tree: copies new and changed files,
/// deletes removed ones, and commits the result as the new pristine state.
/// Unchanged files keep their mtimes, so make rebuilds only what changed.
fn sync_directory(sh: &Shell, dir: &Path, home: &Path, identity: &str) -> Result<()> {
    let tree = home.join("tree");
    let listing_file = home.join("listing.json");
    let synced_identity = home.join("identity");
    if fs::read_to_string(&synced_identity).ok().as_deref() == Some(identity) && tree.join(".git").is_dir() {
        return Ok(());
    }
    let previous: Listing = fs::read(&listing_file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|_| tree.join(".git").is_dir())
        .unwrap_or_default();
    let current = list_tree(dir)?;
    fs::create_dir_all(&tree)?;
    for (rel, meta) in &current {
        if previous.get(rel) != Some(meta) {
            copy_entry(&dir.join(rel), &tree.join(rel))
                .with_context(|| format!("cannot copy {rel} into the source cache"))?;
        }
    }
    for rel in previous.keys().filter(|rel| !current.contains_key(*rel)) {
        fs::remove_file(tree.join(rel)).ok();
    }
    if !tree.join(".git").is_dir() {
        init_repo(sh, &tree)?;
    }
    git_commit_all(sh, &tree, &format!("modrig: sync {}", dir.display()))?;
    fs::write(&listing_file, serde_json::to_vec(&current)?)?;
    fs::write(&synced_identity, identity)?;
    Ok(())
}

/// Copies a file, or recreates a symlink as a symlink (kernel trees have
/// relative and dangling ones, e.g. under scripts/dtc/include-prefixes).
fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    if fs::symlink_metadata(to).is_ok() {
        fs::remove_file(to)?;
    }
    if fs::symlink_metadata(from)?.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else {
        fs::copy(from, to)?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Default)]
struct HashMemo {
    /// path -> (size, mtime ns, sha256)
    files: BTreeMap<String, (u64, u128, String)>,
}

/// sha256 of a file, remembered by (path, size, mtime) so that a cache hit on
/// a 150 MB tarball costs a `stat`, not a read.
pub fn memoised_sha256(cache: &Path, file: &Path) -> Result<String> {
    let meta = fs::metadata(file).with_context(|| format!("kernel source {} not found", file.display()))?;
    let mtime = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let memo_path = cache.join("hash-memo.json");
    let mut memo: HashMemo =
        fs::read(&memo_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let key = file.to_string_lossy().into_owned();
    if let Some((size, time, sha)) = memo.files.get(&key) {
        if *size == meta.len() && *time == mtime {
            return Ok(sha.clone());
        }
    }
    let mut hasher = Sha256::new();
    let mut reader = fs::File::open(file)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let sha = hex(&hasher.finalize());
    memo.files.insert(key, (meta.len(), mtime, sha.clone()));
    fs::create_dir_all(cache)?;
    crate::fsutil::write_atomic(&memo_path, &serde_json::to_vec_pretty(&memo)?)?;
    Ok(sha)
}

fn short_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..16].to_string()
}

fn path_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_from_the_top_makefile() {
        let makefile = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\nEXTRAVERSION = -rc2\nNAME = Baby Opossum Posse\n";
        assert_eq!(version_of_makefile(makefile).as_deref(), Some("7.3.0-rc2"));
        let lts = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n";
        assert_eq!(version_of_makefile(lts).as_deref(), Some("6.1.192"));
        assert_eq!(version_of_makefile("all:\n\techo\n"), None);
    }
}
