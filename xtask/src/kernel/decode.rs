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

use anyhow::Context;
use regex::Regex;

use super::build::BuiltKernel;
use super::elf;
use super::usermod;

/// The name of the script in a kernel's cache entry.
pub const SCRIPT: &str = "decode_stacktrace.sh";

/// The line a report gets when its kernel has no debug info.
pub const NO_DEBUG_INFO: &str = "(modrig: frames not decoded to file:line: this kernel has no debug info; add \
                                 `debuginfo` to the variant's configs, e.g. `configs: [base, debuginfo]`)";

/// How the excerpts of one kernel's reports are decoded.
pub enum Decoder {
    /// The kernel has debug info: the script, vmlinux, a directory of
    /// the modules the guest had (links or decode copies), and the
    /// kernel's cache entry (whose build paths are shortened in the output).
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
        match decodable_modules(kernel) {
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
/// `<dir>/x.c` say the same, readably. A kernel header inlined into them is
/// named in the exported build tree (`build/./include/...`): it is the
/// kernel's `include/...`.
pub fn shorten_module_paths(text: &str, kernel_dir: &Path) -> String {
    let root = regex::escape(&kernel_dir.display().to_string());
    let stress = Regex::new(&format!(r"{root}/modules/\.[^/\s]+\.tmp-[0-9]+/")).expect("a valid pattern");
    let users = Regex::new(&format!(r"{root}/user-modules/\.([^/\s]+)\.tmp-[0-9]+/")).expect("a valid pattern");
    // A kernel header inlined into a module: the exported build tree's copy.
    let headers = Regex::new(&format!(r"{root}/build/(?:\./)?")).expect("a valid pattern");
    let text = stress.replace_all(text, "guests/modules/");
    let text = headers.replace_all(&text, "");
    users.replace_all(&text, "$1/").into_owned()
}

/// Whether a kernel's `.config` text has debug info (DWARF) to decode with.
pub fn has_debug_info(config: &str) -> bool {
    config.lines().any(|line| line == "CONFIG_DEBUG_INFO=y")
}

/// A directory with every module the guest had, so that the script finds
/// exactly those (the kernel's cache entry may also hold older builds of
/// the stress modules). Should a kernel module share a stress module's
/// file name, the first one listed (the guest's /modules one) is kept.
///
/// Each is a [`decode_copy`], not the module itself: in a `.ko` every code
/// section starts at address 0, and the script looks a frame up by address
/// alone, so a frame in `.init.text` or `.exit.text` would be decoded to
/// whatever line of `.text` has the same offset: a wrong file:line.
fn decodable_modules(kernel: &BuiltKernel) -> anyhow::Result<tempfile::TempDir> {
    let copies = tempfile::tempdir()?;
    let mut modules = usermod::ko_files(&kernel.modules_dir)?;
    for dir in &kernel.user_modules {
        modules.extend(usermod::ko_files(dir)?);
    }
    modules.extend(kernel.in_tree.modules.iter().map(|m| kernel.in_tree.dir.join(&m.path)));
    for ko in modules {
        if let Some(name) = ko.file_name() {
            let copy = copies.path().join(name);
            if !copy.exists() {
                decode_copy(&ko, &copy)?;
            }
        }
    }
    Ok(copies)
}

/// Where a module's code sections other than `.text` go in its decode
/// copy: each at an address of its own, 256 MiB apart (a module's section
/// is far smaller), so that every address names one place in one section.
/// `.text` stays at 0, so its frames decode as before.
pub fn separate_code_sections(sections: &[elf::Section]) -> Vec<(String, u64)> {
    const APART: u64 = 0x1000_0000;
    sections
        .iter()
        .filter(|s| s.is_code() && s.name != ".text")
        .zip(1u64..)
        .map(|(s, n)| (s.name.clone(), n * APART))
        .collect()
}

/// `ko` as the script should see it: a link to it when `.text` is its only
/// code, else a copy whose other code sections `objcopy` has moved apart
/// ([`separate_code_sections`]). Both `nm` and `addr2line` then agree on
/// every function's address.
fn decode_copy(ko: &Path, copy: &Path) -> anyhow::Result<()> {
    let bytes = fs::read(ko).with_context(|| format!("cannot read {}", ko.display()))?;
    let sections = elf::sections(&bytes).with_context(|| format!("cannot read the sections of {}", ko.display()))?;
    let moves = separate_code_sections(&sections);
    if moves.is_empty() {
        std::os::unix::fs::symlink(ko, copy)?;
        return Ok(());
    }
    let mut objcopy = Command::new("objcopy");
    for (name, address) in &moves {
        objcopy.arg("--change-section-vma").arg(format!("{name}={address:#x}"));
    }
    let output = objcopy.arg(ko).arg(copy).stdin(Stdio::null()).output().context("cannot run objcopy")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "objcopy could not separate the code sections of {} ({}): {}",
            ko.display(),
            output.status,
            stderr.lines().next().unwrap_or("")
        );
    }
    Ok(())
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
                    init (/c/kernels/db74/user-modules/.mydrv.tmp-7/mydrv.c:12) mydrv\n\
                    uaf (/c/kernels/db74/build/./include/linux/slab.h:894 /c/kernels/db74/modules/.53eb.tmp-1/p.c:76) p";
        assert_eq!(
            shorten_module_paths(line, kernel),
            "churn_thread (guests/modules/symget_churn.c:144 guests/modules/symget_churn.c:166) symget_churn\n\
             init (mydrv/mydrv.c:12) mydrv\n\
             uaf (include/linux/slab.h:894 guests/modules/p.c:76) p"
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

    #[test]
    fn code_sections_other_than_text_get_addresses_of_their_own() {
        let section = |name: &str, flags: u64, size: u64| elf::Section { name: name.to_string(), flags, size };
        let sections = [
            section("", 0, 0),
            section(".text", 0x6, 0xcd4),
            section(".init.text", 0x6, 0x123),
            section(".data", 0x3, 0x40),
            section(".exit.text", 0x6, 0x2b),
            section(".text.unlikely", 0x6, 0),
        ];
        assert_eq!(
            separate_code_sections(&sections),
            [(".init.text".to_string(), 0x1000_0000), (".exit.text".to_string(), 0x2000_0000)]
        );
        assert!(separate_code_sections(&sections[..2]).is_empty(), "a module with .text alone is used as it is");
    }

    /// A real object file (gcc -g) whose `.text` is longer than its
    /// `.init.text`: by address alone, an init frame decodes to a line of
    /// `.text`; in the decode copy, to a line of the init function.
    #[test]
    fn a_frame_in_init_code_decodes_to_its_own_line_in_the_decode_copy() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = String::from("volatile int sink;\nvoid long_text(void)\n{\n");
        for n in 0..200 {
            source.push_str(&format!("\tsink += {n};\n"));
        }
        source.push_str(
            "}\n__attribute__((section(\".init.text\"))) int init_fn(void)\n{\n\tsink = 1;\n\treturn sink;\n}\n",
        );
        let init_lines = 205..=209;
        fs::write(dir.path().join("m.c"), &source).unwrap();
        let object = dir.path().join("m.o");
        let gcc = Command::new("gcc").args(["-g", "-O0", "-c", "m.c", "-o", "m.o"]).current_dir(dir.path()).status();
        assert!(gcc.unwrap().success(), "gcc could not compile the test object");
        let copy = dir.path().join("copy.o");
        decode_copy(&object, &copy).unwrap();

        let line_of = |file: &Path, offset: u64| -> usize {
            let nm = Command::new("nm").arg(file).output().unwrap();
            let symbols = String::from_utf8(nm.stdout).unwrap();
            let base = symbols.lines().find(|l| l.ends_with(" init_fn")).unwrap().split(' ').next().unwrap();
            let address = u64::from_str_radix(base, 16).unwrap() + offset;
            let out = Command::new("addr2line").arg("-e").arg(file).arg(format!("{address:#x}")).output().unwrap();
            let location = String::from_utf8(out.stdout).unwrap();
            location.trim().rsplit(':').next().unwrap().split(' ').next().unwrap().parse().unwrap()
        };
        let by_address_alone = line_of(&object, 8);
        assert!(!init_lines.contains(&by_address_alone), "the original is not ambiguous, so this test shows nothing");
        let decoded = line_of(&copy, 8);
        assert!(init_lines.contains(&decoded), "init_fn+0x8 decoded to line {decoded}, outside init_fn");
    }
}
