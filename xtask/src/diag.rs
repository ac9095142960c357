//! Errors that point into a user's file: `file:line:col: message`.
//!
//! Every input a user writes (matrix files, scenarios, patch series, Kconfig
//! fragments) is reported through this type, so an editor or a terminal can
//! jump straight to the offending spot.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem at a known place in a file. Line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Located {
    pub fn new(file: &Path, (line, col): (usize, usize), message: impl Into<String>) -> Located {
        Located { file: file.to_path_buf(), line, col, message: message.into() }
    }

    /// A serde error as `file:line:col: message`, without serde's own
    /// "at line N column M" suffix since the position leads the line.
    pub fn from_serde(file: &Path, error: &serde_yaml::Error) -> Located {
        let text = error.to_string();
        let message = match text.rfind(" at line ") {
            Some(cut) => text[..cut].to_string(),
            None => text,
        };
        let pos = error.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        Located::new(file, pos, message)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
    }
}

impl std::error::Error for Located {}

/// Several located problems found in one pass; shown one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedErrors(pub Vec<Located>);

impl fmt::Display for LocatedErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LocatedErrors {}

/// A problem with what the user asked for that has no place in one file
/// (a scenario that loads a module a variant's kernel does not build): the
/// user's to fix, not the rig's failure, so `run` exits 1 for it, not
/// INFRA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Whether `error` is the user's input rather than the rig's failure.
pub fn is_bad_input(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<BadInput>() || cause.is::<LocatedErrors>() || cause.is::<Located>())
}
