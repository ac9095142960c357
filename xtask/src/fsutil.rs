//! Small file-system helpers shared by the commands.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` so that readers see either the old file or the
/// whole new one, never a torn write, even across a crash: the bytes go to
/// a temporary file in the same directory (a rename is only atomic within
/// one file system), which is fsynced, renamed over `path`, and then the
/// directory is fsynced so that the rename itself is on disk. A failure
/// leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create {} to write {}", dir.display(), path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // 0o666 less the umask, as `File::create` gives: tempfile's default
    // (0o600) would hide results and reports from the other users of a
    // shared results directory. The prefix names the file a crash left.
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {} to write {}", dir.display(), path.display()))?;
    file.write_all(bytes).with_context(|| format!("cannot write {} (temporary file)", path.display()))?;
    file.as_file().sync_all().with_context(|| format!("cannot sync {} (temporary file)", path.display()))?;
    file.persist(path).with_context(|| format!("cannot move the new {} into place", path.display()))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {} after writing {}", dir.display(), path.display()))?;
    Ok(())
}

/// The last `n` lines of a text file (for error messages about long logs).
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let text = fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_writes_then_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/verdict.json");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(entries(&dir.path().join("nested")), vec!["verdict.json"]);
    }

    #[test]
    fn write_atomic_gives_the_permissions_file_create_gives() {
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("created");
        fs::File::create(&created).unwrap();
        let written = dir.path().join("written");
        write_atomic(&written, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&written), mode(&created));
    }

    #[test]
    fn write_atomic_names_the_path_it_could_not_write() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: the rename over it fails.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let error = format!("{:#}", write_atomic(&path, b"new").unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert_eq!(entries(dir.path()), vec!["taken"], "a temporary file was left behind");
    }
}
