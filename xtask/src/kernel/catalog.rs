//! The variant's own in-tree modules: what `make modules_install` put into
//! the kernel's cache entry, and what `depmod` says each one needs.
//!
//! A scenario names them under `kernel_modules:`. Which exist depends on the
//! variant's configs (e.g. `kernel-configs/victims.config`), so the check is
//! made against each built kernel. In the guest the agent reads the same
//! `modules.dep` and loads a module's dependencies first, like `modprobe`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
// `modules.dep` is read as the agent reads it.
use modrig_proto::modules_dep::Entry as InTreeModule;
use modrig_proto::modules_dep::{module_name as canonical_name, parse as parse_modules_dep};

/// Where `modules_install` puts the modules inside `kernels/<key>/`:
/// `modroot/lib/modules/<release>/`.
pub const MODULES_ROOT: &str = "modroot";

/// A built kernel's in-tree modules.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `kernels/<key>/modroot/lib/modules/<release>/`.
    pub dir: PathBuf,
    pub modules: Vec<InTreeModule>,
}

impl Catalog {
    /// The catalog of the kernel in `kernel_dir`. A kernel built without
    /// modules has an empty one.
    pub fn load(kernel_dir: &Path, release: &str) -> Result<Catalog> {
        let dir = modules_dir(kernel_dir, release);
        let dep = dir.join("modules.dep");
        let modules = if dep.is_file() {
            let text = fs::read_to_string(&dep).with_context(|| format!("cannot read {}", dep.display()))?;
            parse_modules_dep(&text)
        } else {
            Vec::new()
        };
        Ok(Catalog { dir, modules })
    }

    pub fn find(&self, name: &str) -> Option<&InTreeModule> {
        let name = canonical_name(name);
        self.modules.iter().find(|m| m.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.modules.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// The `modules.dep` the catalog was read from: where the rig looked.
    pub fn modules_dep(&self) -> PathBuf {
        self.dir.join("modules.dep")
    }

    /// What the kernel has, for an error about a module it does not:
    /// "a, b", or "no modules at all".
    pub fn contents(&self) -> String {
        let names = self.names();
        if names.is_empty() {
            "no modules at all".to_string()
        } else {
            names.join(", ")
        }
    }

    /// The names of `wanted` this kernel does not have.
    pub fn missing<'a>(&self, wanted: &'a [String]) -> Vec<&'a str> {
        wanted.iter().filter(|w| self.find(w).is_none()).map(String::as_str).collect()
    }
}

/// `kernels/<key>/modroot/lib/modules/<release>/`.
pub fn modules_dir(kernel_dir: &Path, release: &str) -> PathBuf {
    kernel_dir.join(MODULES_ROOT).join("lib/modules").join(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_dep_gives_names_paths_and_dependencies() {
        let text = "kernel/fs/configfs/configfs.ko:\n\
                    kernel/drivers/block/null_blk/null_blk.ko: kernel/fs/configfs/configfs.ko\n\
                    kernel/drivers/block/brd.ko:\n\
                    \n";
        let modules = parse_modules_dep(text);
        assert_eq!(modules.len(), 3);
        assert_eq!(modules[1].name, "null_blk");
        assert_eq!(modules[1].path, "kernel/drivers/block/null_blk/null_blk.ko");
        assert_eq!(modules[1].dependencies, ["kernel/fs/configfs/configfs.ko"]);
        assert!(modules[0].dependencies.is_empty());
    }

    #[test]
    fn names_are_the_kernels_with_dashes_as_underscores() {
        assert_eq!(canonical_name("kernel/drivers/net/veth-x.ko.xz"), "veth_x");
        assert_eq!(canonical_name("null_blk"), "null_blk");
        let catalog = Catalog { dir: PathBuf::new(), modules: parse_modules_dep("kernel/a/null-blk.ko:\n") };
        assert!(catalog.find("null_blk").is_some());
        assert!(catalog.find("null-blk").is_some());
        assert_eq!(catalog.missing(&["null_blk".into(), "dummy".into()]), ["dummy"]);
    }
}
