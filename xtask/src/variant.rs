//! A kernel variant: where its source comes from, the patches applied to
//! it, and the Kconfig fragments merged into its configuration. Plain data,
//! shared by the matrix file's parser and the kernel builder.

use std::path::{Path, PathBuf};

/// The default kernel source: Debian's `linux-source-6.12` package, fetched
/// from Debian's archive like any `source: { debian: ... }` (so the default
/// works on Ubuntu too, which has no such package of its own).
pub const DEFAULT_PACKAGE: &str = "linux-source-6.12";

/// A kernel to build: source + ordered patch series + Kconfig fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub description: String,
    pub source: Source,
    /// Patch inputs in application order: mbox/patch files, quilt `series`
    /// files, or directories (see `kernel::patches`).
    pub patches: Vec<PathBuf>,
    /// Kconfig fragments, merged in order (later ones win).
    pub configs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A tarball with one top-level directory (like Debian's linux-source).
    Tarball(PathBuf),
    /// A kernel source directory; it is copied, never built in place.
    Dir(PathBuf),
    /// A git repository and a revision (anything `git rev-parse` accepts).
    Git { repo: PathBuf, rev: String },
    /// A Debian kernel source package (`linux-source-7.2`), fetched from
    /// Debian's archive (`kernel::debian`).
    Debian { package: String },
}

impl Source {
    /// The source of a variant that names none.
    pub fn default_source() -> Source {
        Source::Debian { package: DEFAULT_PACKAGE.to_string() }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Tarball(path) => format!("tarball {}", path.display()),
            Source::Dir(path) => format!("directory {}", path.display()),
            Source::Git { repo, rev } => format!("git {} at {rev}", repo.display()),
            Source::Debian { package } => format!("Debian package {package}"),
        }
    }
}

/// Where the Kconfig fragment `name` (from a matrix file or a `--config`
/// flag) lives: a bare name such as `base` is `<configs_dir>/base.config`;
/// anything with a slash or a `.config` suffix is a path, relative to
/// `base_dir` unless absolute. Whether the file exists is the caller's
/// check, so that it can name where the name came from.
pub fn fragment_path(name: &str, configs_dir: &Path, base_dir: &Path) -> PathBuf {
    if name.contains('/') || name.ends_with(".config") {
        base_dir.join(name)
    } else {
        configs_dir.join(format!("{name}.config"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_fragment_name_is_in_the_configs_directory_and_anything_else_a_path() {
        let (configs, base) = (Path::new("/kc"), Path::new("/m"));
        assert_eq!(fragment_path("base", configs, base), Path::new("/kc/base.config"));
        assert_eq!(fragment_path("extra.config", configs, base), Path::new("/m/extra.config"));
        assert_eq!(fragment_path("frags/debug", configs, base), Path::new("/m/frags/debug"));
        assert_eq!(fragment_path("/abs/x.config", configs, base), Path::new("/abs/x.config"));
    }
}
