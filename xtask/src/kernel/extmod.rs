//! The module build tree of a built kernel: what `make M=` needs to build
//! out-of-tree modules against it later (headers, Kbuild's scripts and host
//! programs, `Module.symvers`, the configuration, objtool), copied out of
//! the shared build directory so that it stays valid whatever that
//! directory builds next.
//!
//! Kernels since v6.6 export it with their own
//! `scripts/package/install-extmod-build`, as distributions do for their
//! linux-headers packages, and the rig runs that. Older kernels (6.1 LTS)
//! have no such script; for them the rig copies the same files itself:
//! [`wanted_from_source`] and [`wanted_from_objtree`] are that script's file
//! lists (as of v6.12), for x86.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::runlog;

/// The architecture the rig builds for.
const SRCARCH: &str = "x86";

/// Exports the module build tree of the kernel built from `tree` into
/// `out` to `dest`, with the kernel's own script when it has one. `cc` is
/// the compiler the kernel was built with; the script's output goes to
/// `log`.
pub fn export(tree: &Path, out: &Path, dest: &Path, cc: &str, log: &Path) -> Result<()> {
    let script = tree.join("scripts/package/install-extmod-build");
    if script.is_file() {
        let mut command = Command::new(&script);
        command
            .arg(dest)
            .current_dir(out)
            .env("srctree", tree)
            .env("SRCARCH", SRCARCH)
            .env("CC", cc)
            .env("HOSTCC", cc)
            .env("MAKE", "make");
        runlog::run_logged(command, "install-extmod-build", log, |_, _| {})?;
        return Ok(());
    }
    copy_module_build_tree(tree, out, dest)
}

/// What `install-extmod-build` does, for kernels that do not have it.
fn copy_module_build_tree(tree: &Path, out: &Path, dest: &Path) -> Result<()> {
    let auto_conf = out.join("include/config/auto.conf");
    let config = fs::read_to_string(&auto_conf).with_context(|| format!("cannot read {}", auto_conf.display()))?;
    let enabled = |symbol: &str| config.lines().any(|line| line == format!("{symbol}=y"));
    for (root, wanted) in
        [(tree, &wanted_from_source as &dyn Fn(&str) -> bool), (out, &|rel: &str| wanted_from_objtree(rel, &enabled))]
    {
        let mut files = Vec::new();
        list_files(root, root, &mut files)?;
        for rel in files.iter().filter(|rel| wanted(rel)) {
            copy_entry(&root.join(rel), &dest.join(rel))?;
        }
    }
    Ok(())
}

/// Whether a file of the kernel's source tree (path relative to it) goes
/// into the module build tree: the top Makefile, the architecture's
/// Makefiles and include directories, the headers, and Kbuild's scripts.
pub fn wanted_from_source(rel: &str) -> bool {
    let arch = format!("arch/{SRCARCH}/");
    if rel == "Makefile" || wanted_script(rel) {
        return true;
    }
    if let Some(rest) = rel.strip_prefix(arch.as_str()) {
        let parts: Vec<&str> = rest.split('/').collect();
        let top_makefile = parts.len() == 1 && parts[0].starts_with("Makefile");
        let name = parts.last().copied().unwrap_or_default();
        // Files under an `include` directory; generated headers come from
        // the build directory.
        let dirs = &parts[..parts.len() - 1];
        let under_include = dirs.contains(&"include") && !dirs.contains(&"generated");
        return top_makefile || under_include || name == "Kbuild.platforms" || name == "Platform";
    }
    rel.starts_with("include/") && !rel.starts_with("include/config/") && !rel.starts_with("include/generated/")
}

/// Whether a file of the build directory (path relative to it) goes into
/// the module build tree: the generated headers and configuration, the
/// symbol versions, Kbuild's host programs, and objtool (and
/// resolve_btfids) when the configuration needs them. `enabled` says
/// whether a `CONFIG_` symbol is `y`.
pub fn wanted_from_objtree(rel: &str, enabled: &dyn Fn(&str) -> bool) -> bool {
    if rel.ends_with(".o") || rel.rsplit('/').next().is_some_and(|name| name.starts_with('.') && name.ends_with(".cmd"))
    {
        return false;
    }
    match rel {
        "Module.symvers" | "include/config/auto.conf" | "include/config/kernel.release" => true,
        "tools/objtool/objtool" => enabled("CONFIG_OBJTOOL"),
        "tools/bpf/resolve_btfids/resolve_btfids" => enabled("CONFIG_DEBUG_INFO_BTF_MODULES"),
        _ => {
            rel.starts_with(&format!("arch/{SRCARCH}/include/generated/"))
                || rel.starts_with("include/generated/")
                || wanted_script(rel)
        }
    }
}

/// Kbuild's scripts, without those external module builds never run.
fn wanted_script(rel: &str) -> bool {
    let Some(rest) = rel.strip_prefix("scripts/") else { return false };
    let parts: Vec<&str> = rest.split('/').collect();
    let pruned = parts[..parts.len() - 1].iter().any(|dir| ["atomic", "dtc", "kconfig", "package"].contains(dir));
    let name = parts.last().copied().unwrap_or_default();
    !pruned && name != "unifdef" && name != "mk_elfconfig"
}

/// The files and symbolic links under `dir`, relative to `root`, skipping
/// `.git` and the build directories inside a source tree.
pub(super) fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let name = entry.file_name();
            if name != ".git" && !name.to_string_lossy().starts_with(super::source::BUILD_DIR_PREFIX) {
                list_files(root, &path, out)?;
            }
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Copies a file, or recreates a symbolic link, creating parents.
fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let target: PathBuf = fs::read_link(from)?;
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(&target, to).with_context(|| format!("cannot link {}", to.display()))?;
    } else {
        fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_tree_gives_makefiles_headers_and_scripts() {
        for wanted in [
            "Makefile",
            "arch/x86/Makefile",
            "arch/x86/Makefile_32.cpu",
            "arch/x86/include/asm/module.h",
            "arch/x86/include/uapi/asm/types.h",
            "arch/x86/um/shared/sysdep/include/x.h",
            "include/linux/module.h",
            "scripts/Makefile.modpost",
            "scripts/mod/modpost.c",
        ] {
            assert!(wanted_from_source(wanted), "{wanted}");
        }
        for unwanted in [
            "kernel/module/main.c",
            "arch/x86/kernel/module.c",
            "arch/x86/boot/Makefile",
            "arch/x86/include/generated/asm/x.h",
            "include/config/auto.conf",
            "include/generated/autoconf.h",
            "scripts/kconfig/conf.c",
            "scripts/package/builddeb",
            "scripts/dtc/dtc.c",
            "scripts/unifdef",
        ] {
            assert!(!wanted_from_source(unwanted), "{unwanted}");
        }
    }

    #[test]
    fn the_build_directory_gives_generated_files_host_programs_and_tools_when_configured() {
        let objtool = |symbol: &str| symbol == "CONFIG_OBJTOOL";
        for wanted in [
            "Module.symvers",
            "include/config/auto.conf",
            "include/config/kernel.release",
            "include/generated/autoconf.h",
            "arch/x86/include/generated/asm/orc_hash.h",
            "scripts/mod/modpost",
            "scripts/basic/fixdep",
            "tools/objtool/objtool",
        ] {
            assert!(wanted_from_objtree(wanted, &objtool), "{wanted}");
        }
        for unwanted in [
            "vmlinux",
            "kernel/module/main.o",
            "scripts/mod/modpost.o",
            "scripts/mod/.modpost.cmd",
            "include/config/MODULES",
            "tools/bpf/resolve_btfids/resolve_btfids",
            "scripts/kconfig/conf",
        ] {
            assert!(!wanted_from_objtree(unwanted, &objtool), "{unwanted}");
        }
    }
}
