//! Runs a long build command with its output in a log file, and turns
//! Kbuild's quiet output ("  CC      kernel/module/main.o") into progress.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::fsutil::tail_lines;

/// How many lines of a failed command's log go into the error message.
pub const FAILURE_TAIL_LINES: usize = 30;

/// If `line` is Kbuild announcing a compiled object, the object's path.
pub fn compiled_object(line: &str) -> Option<&str> {
    if !line.starts_with("  ") {
        return None;
    }
    let mut words = line.split_whitespace();
    let tool = words.next()?;
    if !matches!(tool, "CC" | "AS") {
        return None;
    }
    let object = words.last()?;
    object.ends_with(".o").then_some(object)
}

/// Runs `command` with stdout and stderr appended to `log`, calling
/// `on_object(count, path)` for each compiled object (at most every 100 ms,
/// and always for the last one). Returns the number of objects compiled. On
/// failure the error carries the log's last lines and its path.
pub fn run_logged(mut command: Command, what: &str, log: &Path, mut on_object: impl FnMut(u64, &str)) -> Result<u64> {
    let mut log_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open build log {}", log.display()))?;
    writeln!(log_file, "$ {command:?}")?;
    let (reader, writer) = std::io::pipe()?;
    command.stdout(writer.try_clone()?).stderr(writer).stdin(std::process::Stdio::null());
    let mut child = command.spawn().with_context(|| format!("cannot start {what}"))?;
    // The command owns the pipe's write ends; drop it so EOF arrives when the
    // child (and its children) exit.
    drop(command);

    let mut objects = 0u64;
    let mut last_report = Instant::now();
    let mut last_object = String::new();
    for line in BufReader::new(reader).split(b'\n') {
        let line = line?;
        log_file.write_all(&line)?;
        log_file.write_all(b"\n")?;
        let text = String::from_utf8_lossy(&line);
        if let Some(object) = compiled_object(&text) {
            objects += 1;
            last_object = object.to_string();
            if last_report.elapsed() >= Duration::from_millis(100) {
                on_object(objects, &last_object);
                last_report = Instant::now();
            }
        }
    }
    if objects > 0 {
        on_object(objects, &last_object);
    }
    let status = child.wait()?;
    log_file.flush()?;
    if !status.success() {
        let tail = tail_lines(log, FAILURE_TAIL_LINES).join("\n");
        bail!("{what} failed ({status}); last {FAILURE_TAIL_LINES} lines of {}:\n{tail}", log.display());
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_kbuild_object_lines() {
        assert_eq!(compiled_object("  CC      kernel/module/main.o"), Some("kernel/module/main.o"));
        assert_eq!(compiled_object("  AS      arch/x86/entry/entry_64.o"), Some("arch/x86/entry/entry_64.o"));
        assert_eq!(compiled_object("  CC [M]  /tmp/m/victim.o"), Some("/tmp/m/victim.o"));
        assert_eq!(compiled_object("  LD      vmlinux.o"), None);
        assert_eq!(compiled_object("  CC      scripts/mod/empty.s"), None);
        assert_eq!(compiled_object("CC kernel/x.o"), None);
        assert_eq!(compiled_object("kernel/module/main.c:12: warning: CC x.o"), None);
    }

    #[test]
    fn failure_carries_the_log_tail() {
        let dir = std::env::temp_dir().join(format!("modrig-runlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("x.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in $(seq 1 40); do echo line$i; done; echo '  CC      a.o'; echo oops >&2; exit 3"]);
        let mut seen = Vec::new();
        let err = run_logged(cmd, "the test command", &log, |n, o| seen.push((n, o.to_string()))).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("the test command failed (exit status: 3); last 30 lines of "), "{message}");
        assert!(message.ends_with("line40\n  CC      a.o\noops"), "{message}");
        assert!(!message.contains("line10\n"));
        assert_eq!(seen, vec![(1, "a.o".to_string())]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
