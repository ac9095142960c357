//! A kernel variant: where its source comes from, the patches applied to
//! it, and the Kconfig fragments merged into its configuration. Plain data,
//! shared by the matrix file's parser and the kernel builder.

use std::path::PathBuf;

/// The default kernel source: Debian's `linux-source-6.12` package.
pub const DEFAULT_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// The Debian package that provides [`DEFAULT_TARBALL`].
pub const DEFAULT_TARBALL_PACKAGE: &str = "linux-source-6.12";

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
}

impl Source {
    pub fn default_tarball() -> Source {
        Source::Tarball(PathBuf::from(DEFAULT_TARBALL))
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Tarball(path) => format!("tarball {}", path.display()),
            Source::Dir(path) => format!("directory {}", path.display()),
            Source::Git { repo, rev } => format!("git {} at {rev}", repo.display()),
        }
    }
}
