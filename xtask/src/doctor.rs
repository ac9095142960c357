//! The host's set-up: checks that the tools the rig needs are there, and on
//! Debian/Ubuntu installs what is missing. Every command that needs the host
//! calls [`ensure_host`]; `cargo xtask doctor` shows the whole table.

use std::path::Path;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

/// Set to `1` to only report missing tools, never install (like `--no-install`).
pub const NO_INSTALL_ENV: &str = "MODRIG_NO_INSTALL";

/// Which part of the rig is about to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Building kernels and stress modules; `debian_sources` when a variant
    /// fetches its source from Debian's archive (the default does).
    KernelBuild { debian_sources: bool },
    /// Everything: builds, guests, Debian sources.
    Everything,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A program on PATH and the arguments that print its version.
    Command(&'static str, &'static [&'static str]),
    /// A file a package installs (headers, a keyring).
    File(&'static str),
    /// A statically linked busybox (the guest has no libc).
    StaticBusybox,
}

/// What a requirement is needed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Every kernel build.
    Builds,
    /// Fetching a kernel source from Debian's archive (`kernel::debian`).
    DebianSources,
    /// Booting guests.
    Guests,
}

/// The key apt checks Debian's archive with (package
/// `debian-archive-keyring`, in Debian and in Ubuntu).
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// A tool the rig needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub tool: &'static str,
    pub package: &'static str,
    probe: Probe,
    used_for: Use,
}

const fn req(tool: &'static str, package: &'static str, probe: Probe, used_for: Use) -> Requirement {
    Requirement { tool, package, probe, used_for }
}

pub const REQUIREMENTS: &[Requirement] = &[
    req("git", "git", Probe::Command("git", &["--version"]), Use::Builds),
    req("make", "make", Probe::Command("make", &["--version"]), Use::Builds),
    req("gcc", "gcc", Probe::Command("gcc", &["--version"]), Use::Builds),
    req("ld", "binutils", Probe::Command("ld", &["--version"]), Use::Builds),
    req("flex", "flex", Probe::Command("flex", &["--version"]), Use::Builds),
    req("bison", "bison", Probe::Command("bison", &["--version"]), Use::Builds),
    req("bc", "bc", Probe::Command("bc", &["--version"]), Use::Builds),
    req("xz", "xz-utils", Probe::Command("xz", &["--version"]), Use::Builds),
    req("libelf", "libelf-dev", Probe::File("/usr/include/libelf.h"), Use::Builds),
    req("openssl headers", "libssl-dev", Probe::File("/usr/include/openssl/ssl.h"), Use::Builds),
    req("cpio", "cpio", Probe::Command("cpio", &["--version"]), Use::Builds),
    req("kmod", "kmod", Probe::Command("kmod", &["--version"]), Use::Builds),
    req("ccache", "ccache", Probe::Command("ccache", &["--version"]), Use::Builds),
    req("Debian archive keyring", "debian-archive-keyring", Probe::File(DEBIAN_KEYRING), Use::DebianSources),
    req("apt-get", "apt", Probe::Command("apt-get", &["--version"]), Use::DebianSources),
    req("dpkg-deb", "dpkg", Probe::Command("dpkg-deb", &["--version"]), Use::DebianSources),
    req("qemu-system-x86_64", "qemu-system-x86", Probe::Command("qemu-system-x86_64", &["--version"]), Use::Guests),
    req("busybox (static)", "busybox-static", Probe::StaticBusybox, Use::Guests),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Found(String),
    Installed(String),
    Missing(String),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub requirement: Requirement,
    pub status: Status,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    pub fn missing(&self) -> Vec<&Requirement> {
        self.rows.iter().filter(|r| matches!(r.status, Status::Missing(_))).map(|r| &r.requirement).collect()
    }

    pub fn into_result(self) -> Result<()> {
        let missing = self.missing();
        if missing.is_empty() {
            return Ok(());
        }
        let packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
        bail!(
            "missing on this host: {} (packages: {})",
            missing.iter().map(|r| r.tool).collect::<Vec<_>>().join(", "),
            packages.join(" ")
        )
    }
}

/// Checks the host for `needs`; installs what is missing unless told not to.
/// Quiet when everything is there; otherwise it says what it does on stderr.
pub fn ensure_host(sh: &Shell, needs: Needs, no_install: bool) -> Result<()> {
    let report = check_and_install(sh, needs, no_install, &mut |line| eprintln!("{line}"))?;
    if report.rows.iter().any(|r| !matches!(r.status, Status::Found(_))) {
        eprintln!("{}", render_table(&report));
    }
    report.into_result()
}

/// Checks what `needs` asks for, installs what is missing (unless
/// `no_install`), and says what it does through `say`.
pub fn check_and_install(sh: &Shell, needs: Needs, no_install: bool, say: &mut dyn FnMut(String)) -> Result<Report> {
    let wanted: Vec<Requirement> = REQUIREMENTS.iter().copied().filter(|r| is_needed(r, needs)).collect();
    let mut rows: Vec<Row> = wanted.iter().map(|r| Row { requirement: *r, status: probe(sh, r) }).collect();
    let missing: Vec<&'static str> =
        dedup(rows.iter().filter(|r| matches!(r.status, Status::Missing(_))).map(|r| r.requirement.package).collect());
    if missing.is_empty() {
        return Ok(Report { rows });
    }
    let no_install = no_install || std::env::var(NO_INSTALL_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    if no_install {
        say(format!("not installing (--no-install or {NO_INSTALL_ENV}); missing packages: {}", missing.join(" ")));
        return Ok(Report { rows });
    }
    if !is_debian_like() {
        bail!(
            "missing: {}. This host is not Debian/Ubuntu (no /etc/debian_version or apt-get), so modrig will not install them; install the equivalents of these Debian packages yourself: {}",
            rows.iter().filter(|r| matches!(r.status, Status::Missing(_))).map(|r| r.requirement.tool).collect::<Vec<_>>().join(", "),
            missing.join(" ")
        );
    }
    // `env VAR=value` keeps the setting when sudo resets the environment.
    let (program, env_args): (&str, &[&str]) = if is_root() { ("env", &[]) } else { ("sudo", &["env"]) };
    let prefix = if is_root() { "" } else { "sudo " };
    say(format!("installing missing packages: {prefix}env DEBIAN_FRONTEND=noninteractive apt-get update -q"));
    cmd!(sh, "{program} {env_args...} DEBIAN_FRONTEND=noninteractive apt-get update -q")
        .quiet()
        .ignore_stdout()
        .run()?;
    say(format!(
        "installing missing packages: {prefix}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {}",
        missing.join(" ")
    ));
    cmd!(sh, "{program} {env_args...} DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {missing...}")
        .quiet()
        .ignore_stdout()
        .run()?;
    for row in &mut rows {
        if let Status::Missing(_) = row.status {
            row.status = match probe(sh, &row.requirement) {
                Status::Found(version) => Status::Installed(version),
                still_missing => still_missing,
            };
        }
    }
    Ok(Report { rows })
}

fn is_needed(requirement: &Requirement, needs: Needs) -> bool {
    match needs {
        Needs::Everything => true,
        Needs::KernelBuild { debian_sources } => match requirement.used_for {
            Use::Builds => true,
            Use::DebianSources => debian_sources,
            Use::Guests => false,
        },
    }
}

fn dedup(mut packages: Vec<&'static str>) -> Vec<&'static str> {
    let mut seen = std::collections::HashSet::new();
    packages.retain(|p| seen.insert(*p));
    packages
}

fn probe(sh: &Shell, requirement: &Requirement) -> Status {
    match requirement.probe {
        Probe::Command(program, args) => match cmd!(sh, "{program} {args...}").quiet().ignore_stderr().read() {
            Ok(out) => Status::Found(version_of(&out)),
            Err(_) => Status::Missing(format!("`{program}` not on PATH")),
        },
        Probe::File(path) => {
            if Path::new(path).exists() {
                Status::Found(package_version(sh, requirement.package))
            } else {
                Status::Missing(format!("{path} not found"))
            }
        }
        Probe::StaticBusybox => {
            for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
                if let Ok(bytes) = std::fs::read(candidate) {
                    if is_static_elf(&bytes) {
                        return Status::Found(package_version(sh, requirement.package));
                    }
                    return Status::Missing(format!("{candidate} is dynamically linked"));
                }
            }
            Status::Missing("no busybox binary".to_string())
        }
    }
}

/// The first line of a `--version` output, without the program's name when
/// it is repeated there, shortened to fit the table.
pub fn version_of(output: &str) -> String {
    let line = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    line.chars().take(60).collect()
}

fn package_version(sh: &Shell, package: &str) -> String {
    let format = "-f=${Version}";
    cmd!(sh, "dpkg-query -W {format} {package}")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "present".to_string())
}

/// True for an ELF file without a PT_INTERP program header, i.e. one that
/// needs no dynamic loader (and so runs in an initramfs without libc).
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false; // not a 64-bit little-endian ELF
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        match bytes.get(at..at + 4) {
            Some(t) => u32::from_le_bytes(t.try_into().expect("4 bytes")) != PT_INTERP,
            None => true,
        }
    })
}

fn is_debian_like() -> bool {
    Path::new("/etc/debian_version").exists() && Path::new("/usr/bin/apt-get").exists()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The table `doctor` prints: tool, package, status, version or reason.
pub fn render_table(report: &Report) -> String {
    let mut rows = vec![["tool".to_string(), "package".to_string(), "status".to_string(), "version".to_string()]];
    for row in &report.rows {
        let (status, detail) = match &row.status {
            Status::Found(v) => ("found", v.clone()),
            Status::Installed(v) => ("installed", v.clone()),
            Status::Missing(why) => ("MISSING", why.clone()),
        };
        rows.push([row.requirement.tool.to_string(), row.requirement.package.to_string(), status.to_string(), detail]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
            .trim_end()
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_first_nonempty_line() {
        assert_eq!(version_of("\nGNU Make 4.3\nBuilt for x86_64\n"), "GNU Make 4.3");
        assert_eq!(version_of(""), "");
    }

    #[test]
    fn static_elf_detection() {
        // The test binary itself is dynamically linked (PT_INTERP present).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // A minimal 64-bit ELF header with no program headers is static.
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert!(is_static_elf(&header));
    }

    #[test]
    fn table_is_aligned_and_names_missing_packages() {
        let report = Report {
            rows: vec![
                Row { requirement: REQUIREMENTS[1], status: Status::Found("GNU Make 4.3".into()) },
                Row {
                    requirement: REQUIREMENTS[16],
                    status: Status::Missing("`qemu-system-x86_64` not on PATH".into()),
                },
                Row { requirement: REQUIREMENTS[12], status: Status::Installed("ccache version 4.7.5".into()) },
            ],
        };
        assert_eq!(
            render_table(&report),
            "tool                package          status     version\n\
             make                make             found      GNU Make 4.3\n\
             qemu-system-x86_64  qemu-system-x86  MISSING    `qemu-system-x86_64` not on PATH\n\
             ccache              ccache           installed  ccache version 4.7.5"
        );
        assert_eq!(
            report.into_result().unwrap_err().to_string(),
            "missing on this host: qemu-system-x86_64 (packages: qemu-system-x86)"
        );
    }
}
