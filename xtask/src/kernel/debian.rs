//! Kernel sources from Debian's archive: a variant's `source: { debian:
//! linux-source-7.2 }`. The package is fetched with apt, but through a
//! sources list, package lists and download cache of the rig's own under
//! `<cache>/debian/`, so the host's apt configuration is neither read nor
//! changed; `dpkg-deb -x` unpacks its tarball. `linux-source-*` packages are
//! architecture-independent, so this works on Ubuntu too (with Debian's
//! archive keyring installed).
//!
//! The archive's suites are Debian 12 (bookworm, its updates and security
//! suites: 6.1 LTS, and 6.12 through security) and unstable (mainline 7.x,
//! whose package moves on as new kernels arrive).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The suites searched, in order, each with its archive (`debian` or
/// `debian-security`) under the mirror.
const ARCHIVE: [(&str, &str); 4] = [
    ("debian", "bookworm"),
    ("debian", "bookworm-updates"),
    ("debian-security", "bookworm-security"),
    ("debian", "unstable"),
];

/// Debian's mirror network; `MODRIG_DEBIAN_MIRROR` names another mirror
/// (one that carries both `debian/` and `debian-security/`).
const DEFAULT_MIRROR: &str = "http://deb.debian.org";
pub const MIRROR_ENV: &str = "MODRIG_DEBIAN_MIRROR";

fn mirror() -> String {
    std::env::var(MIRROR_ENV)
        .ok()
        .filter(|m| !m.trim().is_empty())
        .map_or_else(|| DEFAULT_MIRROR.to_string(), |m| m.trim().trim_end_matches('/').to_string())
}

use crate::doctor::DEBIAN_KEYRING as KEYRING;

/// Package lists younger than this are used as they are; older ones are
/// refreshed first (a build should not depend on the network when nothing
/// moved, and unstable moves about weekly).
const LISTS_FRESH_FOR: Duration = Duration::from_secs(24 * 3600);

/// A fetched source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub version: String,
    /// `/usr/src/<package>.tar.xz` as unpacked from the package.
    pub tarball: PathBuf,
}

/// Fetches `package` (a `linux-source-*` package) unless its current
/// version is already unpacked in the cache.
pub fn fetch(sh: &Shell, package: &str, cache: &Path) -> Result<Fetched> {
    let apt = Apt::new(cache)?;
    let unreadable = if apt.lists_are_fresh() { Vec::new() } else { apt.update(sh)? };
    let (version, suite) = match apt.candidate(sh, package)? {
        Some(found) => found,
        None => bail!("{}", apt.unknown_package(sh, package, &unreadable)),
    };
    let unpacked = apt.root.join(format!("{package}_{}", file_safe(&version)));
    let tarball = unpacked.join("usr/src").join(format!("{package}.tar.xz"));
    if !tarball.is_file() {
        apt.download_and_unpack(sh, package, &version, &unpacked)
            .or_else(|first| {
                // Unstable moves: a list from yesterday may name a .deb the
                // archive no longer has. Refresh once and retry.
                apt.update(sh)?;
                apt.download_and_unpack(sh, package, &version, &unpacked).map_err(|_| first)
            })
            .with_context(|| format!("{package} {version} is in Debian's {suite}, but could not be fetched"))?;
        if !tarball.is_file() {
            bail!("{package} {version} holds no {}: not a kernel source package", tarball_name(package));
        }
    }
    Ok(Fetched { version, tarball })
}

fn tarball_name(package: &str) -> String {
    format!("/usr/src/{package}.tar.xz")
}

/// Versions such as `6.12.117-1~deb12u1` in a directory name.
fn file_safe(version: &str) -> String {
    version.chars().map(|c| if c.is_ascii_alphanumeric() || ".-+".contains(c) { c } else { '_' }).collect()
}

/// apt with the rig's own configuration under `<cache>/debian/`.
struct Apt {
    root: PathBuf,
    mirror: String,
    options: Vec<String>,
}

impl Apt {
    fn new(cache: &Path) -> Result<Apt> {
        if !Path::new(KEYRING).is_file() {
            bail!(
                "cannot check Debian's archive: {KEYRING} is missing (install the package debian-archive-keyring, \
                 e.g. `apt-get install debian-archive-keyring`)"
            );
        }
        let root = cache.join("debian");
        for dir in ["lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(root.join(dir))
                .with_context(|| format!("cannot create {}", root.join(dir).display()))?;
        }
        let mirror = mirror();
        let list: String = ARCHIVE
            .iter()
            .map(|(archive, suite)| format!("deb [signed-by={KEYRING}] {mirror}/{archive} {suite} main\n"))
            .collect();
        crate::fsutil::write_atomic(&root.join("sources.list"), list.as_bytes())?;
        // No installed packages: the candidate is the archive's newest.
        let status = root.join("status");
        if !status.exists() {
            fs::write(&status, "").with_context(|| format!("cannot create {}", status.display()))?;
        }
        let option = |key: &str, value: &Path| format!("-o{key}={}", value.display());
        let options = vec![
            option("Dir::Etc::SourceList", &root.join("sources.list")),
            "-oDir::Etc::SourceParts=/dev/null".to_string(),
            option("Dir::State::Lists", &root.join("lists")),
            option("Dir::State::Status", &status),
            option("Dir::Cache", &root.join("cache")),
            // The rig runs as root in CI; apt's download sandbox user cannot
            // write into the cache directory, and need not.
            "-oAPT::Sandbox::User=root".to_string(),
        ];
        Ok(Apt { root, mirror, options })
    }

    /// The stamp of the last complete refresh holds the mirror it read:
    /// lists of another mirror are not this one's.
    fn lists_are_fresh(&self) -> bool {
        let stamp = self.root.join("lists/updated");
        let same_mirror = fs::read_to_string(&stamp).is_ok_and(|text| text.trim() == self.mirror);
        same_mirror
            && fs::metadata(&stamp)
                .and_then(|m| m.modified())
                .is_ok_and(|at| SystemTime::now().duration_since(at).is_ok_and(|age| age < LISTS_FRESH_FOR))
    }

    /// Refreshes the package lists. Returns the suites that could not be
    /// read, with apt's reason: a mirror without unstable, or an unreachable
    /// security host, still leaves the other suites usable. When no suite
    /// could be read, lists from an earlier refresh are used as they are
    /// (with a warning); without any, this is an error.
    fn update(&self, sh: &Shell) -> Result<Vec<Unreadable>> {
        let options = &self.options;
        let output = cmd!(sh, "apt-get {options...} -q update").quiet().ignore_status().output()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        let unreadable = unreadable_suites(&text);
        let all_failed = unreadable.len() == ARCHIVE.len() || (!output.status.success() && unreadable.is_empty());
        if !all_failed {
            if unreadable.is_empty() {
                fs::write(self.root.join("lists/updated"), &self.mirror)?;
            }
            return Ok(unreadable);
        }
        let reason = unreadable.first().map(|u| u.reason.clone()).unwrap_or_else(|| {
            text.lines().find(|l| l.starts_with("E:")).unwrap_or("apt-get update failed").to_string()
        });
        if self.has_lists() {
            eprintln!(
                "warning: cannot refresh Debian's package lists ({reason}); using the ones from an earlier refresh \
                 in {}",
                self.root.join("lists").display()
            );
            return Ok(unreadable);
        }
        bail!("cannot reach Debian's archive at {} ({MIRROR_ENV} names another mirror): {reason}", self.mirror)
    }

    fn has_lists(&self) -> bool {
        fs::read_dir(self.root.join("lists"))
            .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with("_Packages")))
            .unwrap_or(false)
    }

    /// The newest version of `package` in the archive, and its suite.
    fn candidate(&self, sh: &Shell, package: &str) -> Result<Option<(String, String)>> {
        let options = &self.options;
        let text =
            cmd!(sh, "apt-cache {options...} policy {package}").quiet().ignore_stderr().read().unwrap_or_default();
        Ok(parse_policy(&text))
    }

    /// Says which `linux-source-*` packages the archive has, with their
    /// versions and suites, and what to do.
    fn unknown_package(&self, sh: &Shell, package: &str, unreadable: &[Unreadable]) -> String {
        let options = &self.options;
        let names = cmd!(sh, "apt-cache {options...} pkgnames linux-source-")
            .quiet()
            .ignore_stderr()
            .read()
            .unwrap_or_default();
        let mut names: Vec<&str> = names.lines().map(str::trim).filter(|n| !n.is_empty()).collect();
        names.sort();
        let mut have = Vec::new();
        for name in names {
            let text =
                cmd!(sh, "apt-cache {options...} policy {name}").quiet().ignore_stderr().read().unwrap_or_default();
            if let Some((version, suite)) = parse_policy(&text) {
                have.push(format!("{name} {version} ({suite})"));
            }
        }
        let suites: Vec<&str> = ARCHIVE.iter().map(|(_, suite)| *suite).collect();
        // Said first: a suite that could not be read is the likelier cause.
        let missing_suites = if unreadable.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = unreadable.iter().map(|u| format!("{} ({})", u.suite, u.reason)).collect();
            format!(
                "Debian's suite(s) {} could not be read just now, so their packages are missing below (mainline \
                 linux-source-7.x is in unstable). ",
                list.join(", ")
            )
        };
        if have.is_empty() {
            return format!(
                "{missing_suites}Debian's archive has no package `{package}`, and no linux-source-* package at all: the package lists under {} are empty (suites {})",
                self.root.join("lists").display(),
                suites.join(", ")
            );
        }
        format!(
            "{missing_suites}Debian's archive has no package `{package}` (suites {}). It has: {}. Packages in unstable move on as new \
             kernels arrive: when the one you named is gone, name the one that replaced it, or point the variant at \
             your own tree (`git:`/`ref:`) or a tarball",
            suites.join(", "),
            have.join(", ")
        )
    }

    fn download_and_unpack(&self, sh: &Shell, package: &str, version: &str, unpacked: &Path) -> Result<()> {
        let options = &self.options;
        let work = self.root.join(format!("download-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)?;
        let spec = format!("{package}={version}");
        let fetched = {
            let _dir = sh.push_dir(&work);
            cmd!(sh, "apt-get {options...} -q download {spec}").quiet().ignore_status().output()?
        };
        if !fetched.status.success() {
            let stderr = String::from_utf8_lossy(&fetched.stderr);
            let why = stderr.lines().find(|l| l.starts_with("E:")).unwrap_or(stderr.trim());
            bail!("cannot download {spec} from Debian's archive: {why}");
        }
        let deb = fs::read_dir(&work)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| format!("apt downloaded no .deb for {spec}"))?;
        let staging = work.join("unpacked");
        cmd!(sh, "dpkg-deb -x {deb} {staging}")
            .quiet()
            .run()
            .with_context(|| format!("cannot unpack {}", deb.display()))?;
        let _ = fs::remove_dir_all(unpacked);
        fs::rename(&staging, unpacked)
            .with_context(|| format!("cannot move the unpacked package to {}", unpacked.display()))?;
        let _ = fs::remove_dir_all(&work);
        Ok(())
    }
}

/// A suite `apt-get update` could not read, and apt's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unreadable {
    suite: String,
    reason: String,
}

/// The suites of `apt-get update`'s `Err:` lines (`Err:4
/// http://deb.debian.org/debian unstable InRelease`), each with the indented
/// line after it (`  Could not resolve 'deb.debian.org'`) as the reason.
fn unreadable_suites(output: &str) -> Vec<Unreadable> {
    let lines: Vec<&str> = output.lines().collect();
    let mut found: Vec<Unreadable> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("Err:") else { continue };
        let Some(suite) = rest.split_whitespace().nth(2) else { continue };
        let suite = suite.split('/').next().unwrap_or(suite).to_string();
        let reason = lines
            .get(i + 1)
            .filter(|next| next.starts_with(' '))
            .map(|next| next.trim().to_string())
            .unwrap_or_else(|| "no reason given".to_string());
        if !found.iter().any(|u| u.suite == suite) {
            found.push(Unreadable { suite, reason });
        }
    }
    found
}

/// The candidate `(version, suite)` of `apt-cache policy PACKAGE`: the
/// `Candidate:` line, and the suite of that version in the version table
/// (the line after it: `500 http://deb.debian.org/debian unstable/main amd64
/// Packages`). `None` for a package the archive does not have.
fn parse_policy(text: &str) -> Option<(String, String)> {
    let version = text.lines().find_map(|l| l.trim().strip_prefix("Candidate:"))?.trim();
    if version.is_empty() || version == "(none)" {
        return None;
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.trim_start_matches("*** ").split_whitespace().next() != Some(version));
    lines.next()?;
    let suite = lines.next()?.split_whitespace().nth(2)?.split('/').next()?;
    Some((version.to_string(), suite.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_is_the_policy_s_with_its_suite() {
        let text = "linux-source-6.1:\n  Installed: (none)\n  Candidate: 6.1.192-3\n  Version table:\n     6.1.192-3 500\n        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n     6.1.176-1 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n";
        assert_eq!(parse_policy(text), Some(("6.1.192-3".to_string(), "bookworm-security".to_string())));
        assert_eq!(parse_policy(""), None);
        assert_eq!(parse_policy("x:\n  Installed: (none)\n  Candidate: (none)\n"), None);
        assert_eq!(file_safe("6.12.117-1~deb12u1"), "6.12.117-1_deb12u1");
    }

    #[test]
    fn an_unreadable_suite_is_named_with_apt_s_reason() {
        let output = "Hit:1 http://deb.debian.org/debian bookworm InRelease\n\
                      Err:4 http://deb.debian.org/debian unstable InRelease\n  \
                      Could not resolve 'deb.debian.org'\n\
                      Err:4 http://deb.debian.org/debian unstable InRelease\n  \
                      Could not resolve 'deb.debian.org'\n\
                      W: Some index files failed to download. They have been ignored, or old ones used instead.\n";
        assert_eq!(
            unreadable_suites(output),
            vec![Unreadable { suite: "unstable".into(), reason: "Could not resolve 'deb.debian.org'".into() }]
        );
        assert_eq!(unreadable_suites("Hit:1 http://deb.debian.org/debian bookworm InRelease\n"), vec![]);
    }
}
