//! Decoded stack traces: every frame of a kernel report's excerpt with its
//! source `file:line`, by the kernel's own `scripts/decode_stacktrace.sh`
//! run against the variant's vmlinux and the modules the guest had (the
//! stress modules, the user's and the kernel's own). Only a kernel built with debug info can
//! be decoded (`configs: [base, debuginfo]`, or `debug`); without it the
//! excerpt stays as printed, with one line that says why.
//!
//! The script is copied into the kernel's cache entry when the kernel is
//! built, so decoding needs neither the source tree nor the network.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use regex::Regex;

use super::build::BuiltKernel;
use super::usermod;

/// The name of the script in a kernel's cache entry.
pub const SCRIPT: &str = "decode_stacktrace.sh";

/// The line a report gets when its kernel has no debug info.
pub const NO_DEBUG_INFO: &str = "(modrig: frames not decoded to file:line: this kernel has no debug info; add \
                                 `debuginfo` to the variant's configs, e.g. `configs: [base, debuginfo]`)";

/// How the excerpts of one kernel's reports are decoded.
pub enum Decoder {
    /// The kernel has debug info: the script, vmlinux, a directory of
    /// links to the modules the guest had, and the kernel's cache entry
    /// (whose build paths are shortened in the output).
    Script { script: PathBuf, vmlinux: PathBuf, modules: tempfile::TempDir, kernel_dir: PathBuf },
    /// No debug info, or nothing to decode with: why, as one line.
    Not(String),
}

impl Decoder {
    pub fn for_kernel(kernel: &BuiltKernel) -> Decoder {
        let config = fs::read_to_string(kernel.dir.join("config")).unwrap_or_default();
        if !has_debug_info(&config) {
            return Decoder::Not(NO_DEBUG_INFO.to_string());
        }
        let script = kernel.dir.join(SCRIPT);
        if !script.is_file() {
            return Decoder::Not(format!(
                "(modrig: frames not decoded: {} has no {SCRIPT}; it was built before modrig kept one: remove the \
                 entry and build it again)",
                kernel.dir.display()
            ));
        }
        match module_links(kernel) {
            Ok(modules) => {
                Decoder::Script { script, vmlinux: kernel.dir.join("vmlinux"), modules, kernel_dir: kernel.dir.clone() }
            }
            Err(error) => Decoder::Not(format!("(modrig: frames not decoded: {error:#})")),
        }
    }

    /// The excerpt with each frame decoded; or as it was, after one line
    /// that says why it is not (first, so that a shortened excerpt in a
    /// report still shows it).
    pub fn decode(&self, excerpt: &str) -> String {
        let undecoded = |why: &str| format!("{why}\n{}", excerpt.trim_end());
        match self {
            Decoder::Not(why) => undecoded(why),
            Decoder::Script { script, vmlinux, modules, kernel_dir } => {
                match run_script(script, vmlinux, modules.path(), excerpt) {
                    Ok(decoded) if !decoded.trim().is_empty() => shorten_module_paths(decoded.trim_end(), kernel_dir),
                    Ok(_) => undecoded(&format!("(modrig: frames not decoded: {SCRIPT} printed nothing)")),
                    Err(error) => undecoded(&format!("(modrig: frames not decoded: {error:#})")),
                }
            }
        }
    }
}

/// The modules were compiled in a staging copy under the kernel's cache
/// entry (`modules/.<key>.tmp-<pid>/`, `user-modules/.<dir>.tmp-<pid>/`),
/// and their debug info names those paths: `guests/modules/x.c` and
/// `<dir>/x.c` say the same, readably.
pub fn shorten_module_paths(text: &str, kernel_dir: &Path) -> String {
    let root = regex::escape(&kernel_dir.display().to_string());
    let stress = Regex::new(&format!(r"{root}/modules/\.[^/\s]+\.tmp-[0-9]+/")).expect("a valid pattern");
    let users = Regex::new(&format!(r"{root}/user-modules/\.([^/\s]+)\.tmp-[0-9]+/")).expect("a valid pattern");
    let text = stress.replace_all(text, "guests/modules/");
    users.replace_all(&text, "$1/").into_owned()
}

/// Whether a kernel's `.config` text has debug info (DWARF) to decode with.
pub fn has_debug_info(config: &str) -> bool {
    config.lines().any(|line| line == "CONFIG_DEBUG_INFO=y")
}

/// A directory with a link to every module the guest had, so that the
/// script finds exactly those (the kernel's cache entry may also hold
/// older builds of the stress modules). Should a kernel module share a
/// stress module's file name, the first one listed (the guest's
/// /modules one) is kept.
fn module_links(kernel: &BuiltKernel) -> anyhow::Result<tempfile::TempDir> {
    let links = tempfile::tempdir()?;
    let mut modules = usermod::ko_files(&kernel.modules_dir)?;
    for dir in &kernel.user_modules {
        modules.extend(usermod::ko_files(dir)?);
    }
    modules.extend(kernel.in_tree.modules.iter().map(|m| kernel.in_tree.dir.join(&m.path)));
    for ko in modules {
        if let Some(name) = ko.file_name() {
            let link = links.path().join(name);
            if !link.exists() {
                std::os::unix::fs::symlink(&ko, link)?;
            }
        }
    }
    Ok(links)
}

/// `decode_stacktrace.sh VMLINUX auto MODULES < excerpt`. The base path
/// `auto` makes the script strip the source tree's prefix from file names.
fn run_script(script: &Path, vmlinux: &Path, modules: &Path, excerpt: &str) -> anyhow::Result<String> {
    let mut child = Command::new("bash")
        .arg(script)
        .arg(vmlinux)
        .arg("auto")
        .arg(modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("piped stdin").write_all(excerpt.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!("{SCRIPT} failed ({}): {}", output.status, stderr.lines().next().unwrap_or(""));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_info_is_config_debug_info() {
        assert!(has_debug_info("CONFIG_X=y\nCONFIG_DEBUG_INFO=y\nCONFIG_DEBUG_INFO_REDUCED=y\n"));
        assert!(!has_debug_info("CONFIG_DEBUG_INFO_NONE=y\n# CONFIG_DEBUG_INFO is not set\n"));
    }

    #[test]
    fn module_paths_of_the_build_s_staging_copies_are_shortened() {
        let kernel = Path::new("/c/kernels/db74");
        let line = "churn_thread (/c/kernels/db74/modules/.53eb.tmp-15412/symget_churn.c:144 \
                    /c/kernels/db74/modules/.53eb.tmp-15412/symget_churn.c:166) symget_churn\n\
                    init (/c/kernels/db74/user-modules/.mydrv.tmp-7/mydrv.c:12) mydrv";
        assert_eq!(
            shorten_module_paths(line, kernel),
            "churn_thread (guests/modules/symget_churn.c:144 guests/modules/symget_churn.c:166) symget_churn\n\
             init (mydrv/mydrv.c:12) mydrv"
        );
        assert_eq!(shorten_module_paths("kthread (kernel/kthread.c:389)", kernel), "kthread (kernel/kthread.c:389)");
    }

    #[test]
    fn without_debug_info_the_excerpt_is_kept_with_one_line_saying_why() {
        let decoder = Decoder::Not(NO_DEBUG_INFO.to_string());
        let excerpt =
            "[ 1.0] kernel BUG at kernel/module/main.c:156!\n[ 1.1]  churn_thread+0x9c/0x140 [symget_churn]\n";
        let decoded = decoder.decode(excerpt);
        assert_eq!(decoded, format!("{NO_DEBUG_INFO}\n{}", excerpt.trim_end()));
        assert_eq!(decoded.lines().count(), 3);
    }
}
