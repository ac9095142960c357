//! What a kernel build reports, and the two reporters that show it.
//!
//! Builders only emit [`BuildEvent`]s; a reporter decides how they look. The
//! terminal reporter owns indicatif (and falls back to plain lines when stdout
//! is not a terminal); the JSON reporter prints one event per line for tests
//! and other programs.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::failure::BuildPart;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BuildEvent {
    /// A step of the build began (hashing, importing, patching, configuring,
    /// compiling, exporting, building modules).
    Stage { variant: String, stage: String },
    /// Kbuild compiled another object; `estimate` is the object count of the
    /// last full build in this build directory, when known.
    Compiled { variant: String, objects: u64, estimate: Option<u64>, last: String },
    /// The variant's kernel and modules were already in the cache.
    CacheHit { variant: String, key: String, seconds: f64, artifacts: PathBuf },
    /// The kernel was built (or only its stress modules, when
    /// `objects_compiled` is 0 and `kernel_cached` is true).
    Built {
        variant: String,
        key: String,
        seconds: f64,
        kernel_cached: bool,
        objects_compiled: u64,
        artifacts: PathBuf,
        log: PathBuf,
    },
    /// The build failed; `part` says what failed when the failure is typed
    /// (see `kernel::failure`), and `log` is that part's build log.
    Failed { variant: String, part: Option<BuildPart>, log: Option<PathBuf> },
}

pub trait Reporter: Sync {
    fn report(&self, event: &BuildEvent);
}

/// One JSON object per line on stdout.
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn report(&self, event: &BuildEvent) {
        // Per-object events would flood a consumer; the count arrives with Built.
        if matches!(event, BuildEvent::Compiled { .. }) {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, event);
        let _ = writeln!(out);
    }
}

/// Progress bars on a terminal, plain lines elsewhere (CI logs); both on
/// stderr, so stdout carries only results.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    interactive: bool,
}

impl Default for TerminalReporter {
    fn default() -> Self {
        TerminalReporter {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            interactive: std::io::stderr().is_terminal(),
        }
    }
}

impl TerminalReporter {
    fn bar(&self, variant: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(variant.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(spinner_style());
                bar.set_prefix(variant.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    fn finish(&self, variant: &str, line: String) {
        if self.interactive {
            let bar = self.bar(variant);
            bar.set_style(ProgressStyle::with_template("{msg}").expect("static template"));
            bar.finish_with_message(line);
        } else {
            eprintln!("{line}");
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {msg}").expect("static template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] [{bar:30}] {pos}/~{len} {msg}")
        .expect("static template")
        .progress_chars("=> ")
}

impl Reporter for TerminalReporter {
    fn report(&self, event: &BuildEvent) {
        match event {
            BuildEvent::Stage { variant, stage } => {
                if self.interactive {
                    self.bar(variant).set_message(stage.clone());
                } else {
                    eprintln!("{variant}: {stage}");
                }
            }
            BuildEvent::Compiled { variant, objects, estimate, last } => {
                if !self.interactive {
                    return;
                }
                let bar = self.bar(variant);
                if let Some(total) = estimate {
                    if bar.length() != Some(*total) {
                        bar.set_style(bar_style());
                        bar.set_length(*total);
                    }
                    bar.set_position((*objects).min(*total));
                    bar.set_message(last.clone());
                } else {
                    bar.set_message(format!("compiling: {objects} objects, {last}"));
                }
            }
            BuildEvent::CacheHit { variant, key, seconds, artifacts } => self.finish(
                variant,
                format!("{variant}: cache hit ({}) in {seconds:.1} s: {}", &key[..12], artifacts.display()),
            ),
            BuildEvent::Built { variant, key, seconds, kernel_cached, objects_compiled, artifacts, .. } => {
                let what = if *kernel_cached {
                    "kernel cached, stress modules rebuilt".to_string()
                } else {
                    format!("built, {objects_compiled} objects compiled")
                };
                self.finish(
                    variant,
                    format!("{variant}: {what} ({}) in {seconds:.1} s: {}", &key[..12], artifacts.display()),
                )
            }
            BuildEvent::Failed { variant, part, log } => {
                let what = part.map(|p| format!(": {p}")).unwrap_or_default();
                let where_ = log.as_ref().map(|l| format!(" (log: {})", l.display())).unwrap_or_default();
                self.finish(variant, format!("{variant}: FAILED{what}{where_}"))
            }
        }
    }
}
