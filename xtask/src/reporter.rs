//! How [`Progress`] events look. Three reporters: progress bars on a
//! terminal, the same lines without bars elsewhere (CI logs), and JSON lines
//! on stdout for programs (`--json`). Human output goes to stderr, so that
//! stdout carries only results.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::outcome::Verdict;
use crate::progress::{BuildEvent, Progress, Reporter};

/// How much of a run a human reporter shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// One guest at a time (`run`, `bisect`): its boot, every step the agent
    /// reaches, and what the detectors saw.
    Steps,
    /// Many cells (`matrix`, `calibrate`): a line per cell verdict, and what
    /// the detectors saw; boots and steps only move the bar.
    Cells,
}

/// The reporter a command asked for: JSON lines, or a human one (bars when
/// stderr is a terminal, plain lines otherwise).
pub fn for_command(json: bool, detail: Detail) -> Box<dyn Reporter> {
    if json {
        Box::new(JsonLines)
    } else {
        Box::new(Human::new(detail, std::io::stderr().is_terminal()))
    }
}

/// One JSON object per event and line, on stdout.
pub struct JsonLines;

impl Reporter for JsonLines {
    fn report(&self, event: &Progress) {
        let mut out = std::io::stdout().lock();
        let written = match event {
            // Per-object events would flood a consumer; the count arrives
            // with `built`.
            Progress::Build(BuildEvent::Compiled { .. }) => return,
            Progress::Build(build) => serde_json::to_writer(&mut out, build),
            other => serde_json::to_writer(&mut out, other),
        };
        if written.is_ok() {
            let _ = writeln!(out);
        }
    }
}

/// Lines for people, with bars when there is a terminal: a spinner per
/// kernel build, and a bar of cells done in a matrix.
pub struct Human {
    detail: Detail,
    /// `None` when stderr is not a terminal.
    bars: Option<MultiProgress>,
    /// The matrix's bar of cells, once it started.
    cells_bar: Mutex<Option<ProgressBar>>,
    /// A spinner (then a bar of objects) per variant being built.
    build_bars: Mutex<HashMap<String, ProgressBar>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Cells of the matrix, once it said.
    total: Option<usize>,
    done: usize,
    /// The cells running now, for the bar's message.
    running: Vec<String>,
}

impl Human {
    pub fn new(detail: Detail, interactive: bool) -> Human {
        Human {
            detail,
            bars: interactive.then(MultiProgress::new),
            cells_bar: Mutex::new(None),
            build_bars: Mutex::new(HashMap::new()),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a line above the bars (or alone), prefixed with the count of
    /// cells done when the matrix's size is known.
    fn line(&self, state: &State, text: String) {
        let text = match state.total {
            Some(total) => format!("[{:>3}/{total}] {text}", state.done),
            None => text,
        };
        self.show_running(state);
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn show_running(&self, state: &State) {
        if let Some(bar) = lock(&self.cells_bar).as_ref() {
            bar.set_position(state.done as u64);
            bar.set_message(state.running.join(", "));
        }
    }

    /// Starts the bar of `total` cells.
    fn start_cells_bar(&self, total: usize) {
        let Some(bars) = &self.bars else { return };
        let bar = bars.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {pos}/{len} cells, ETA {eta}  {wide_msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        *lock(&self.cells_bar) = Some(bar);
    }

    /// The spinner of `variant`'s build.
    fn build_bar(&self, bars: &MultiProgress, variant: &str) -> ProgressBar {
        lock(&self.build_bars)
            .entry(variant.to_string())
            .or_insert_with(|| {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(spinner_style());
                bar.set_prefix(variant.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    fn build(&self, state: &State, event: &BuildEvent) {
        // A finished build's spinner gives way to its line, which then
        // scrolls in order with the lines that follow it.
        let finished = |variant: &str, text: String| {
            if let Some(bar) = lock(&self.build_bars).remove(variant) {
                bar.finish_and_clear();
                if let Some(bars) = &self.bars {
                    bars.remove(&bar);
                }
            }
            self.line(state, text);
        };
        match event {
            BuildEvent::Stage { variant, stage } => match &self.bars {
                Some(bars) => self.build_bar(bars, variant).set_message(stage.clone()),
                None => self.line(state, format!("{variant}: {stage}")),
            },
            BuildEvent::Compiled { variant, objects, estimate, last } => {
                let Some(bars) = &self.bars else { return };
                let bar = self.build_bar(bars, variant);
                match estimate {
                    Some(total) => {
                        if bar.length() != Some(*total) {
                            bar.set_style(objects_style());
                            bar.set_length(*total);
                        }
                        bar.set_position((*objects).min(*total));
                        bar.set_message(last.clone());
                    }
                    None => bar.set_message(format!("compiling: {objects} objects, {last}")),
                }
            }
            BuildEvent::CacheHit { variant, key, seconds, artifacts } => finished(
                variant,
                format!("{variant}: cache hit ({}) in {seconds:.1} s: {}", short(key), artifacts.display()),
            ),
            BuildEvent::Built { variant, key, seconds, kernel_cached, objects_compiled, artifacts, .. } => {
                let what = if *kernel_cached {
                    "kernel cached, stress modules rebuilt".to_string()
                } else {
                    format!("built, {objects_compiled} objects compiled")
                };
                finished(
                    variant,
                    format!("{variant}: {what} ({}) in {seconds:.1} s: {}", short(key), artifacts.display()),
                )
            }
            BuildEvent::Failed { variant, part, log } => {
                let what = part.map(|p| format!(": {p}")).unwrap_or_default();
                let log = log.as_ref().map(|l| format!(" (log: {})", l.display())).unwrap_or_default();
                finished(variant, format!("{variant}: FAILED{what}{log}"))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first 12 characters of a cache key.
fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {msg}").expect("static template")
}

fn objects_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] [{bar:30}] {pos}/~{len} {msg}")
        .expect("static template")
        .progress_chars("=> ")
}

impl Reporter for Human {
    fn report(&self, event: &Progress) {
        let mut state = self.lock();
        let steps = self.detail == Detail::Steps;
        match event {
            Progress::MatrixStarted {
                cells,
                baseline,
                candidate,
                scenarios,
                vcpus,
                boots_per_side,
                shard,
                accel,
                run_dir,
            } => {
                let shard = shard.as_ref().map(|s| format!(", shard {s}")).unwrap_or_default();
                self.line(
                    &state,
                    format!(
                        "matrix: {cells} cells ({baseline} vs {candidate}, {scenarios} scenarios, vCPUs {vcpus:?}, \
                         {boots_per_side} boots per side, ABBA order{shard}) on {accel}, results in {}",
                        run_dir.display()
                    ),
                );
                state.total = Some(*cells);
                self.start_cells_bar(*cells);
            }
            Progress::BootStarted { boot, vcpus, accel } if steps => {
                self.line(&state, format!("{boot}: QEMU started ({vcpus} vCPUs, {accel})"));
            }
            Progress::BootReady { boot, ms } if steps => {
                self.line(&state, format!("{boot}: agent ready in {ms:.0} ms"));
            }
            Progress::BootStarted { .. } | Progress::BootReady { .. } => {}
            Progress::CellStarted { cell, .. } => {
                state.running.push(cell.clone());
                self.show_running(&state);
            }
            Progress::Build(build) => self.build(&state, build),
            Progress::BisectStepStarted { step, commit, subject, phase, left } => {
                let left = left.map(|n| format!(", ~{n} more after this")).unwrap_or_default();
                self.line(
                    &state,
                    format!("bisect: step {step} ({phase}{left}): {} {subject}: building and testing", short(commit)),
                );
            }
            // The bisect prints each step's line on stdout itself.
            Progress::BisectStepEnded { .. } => {}
            Progress::Step { step, what, .. } if steps => {
                self.line(&state, format!("  step {step}: {what}"));
            }
            Progress::Step { .. } => {}
            Progress::DetectorFired { boot, what } => {
                self.line(&state, format!("{boot}: the kernel reported: {what}"));
            }
            Progress::SysrqSent { boot, key, what } => {
                self.line(&state, format!("{boot}: sysrq-{key}: asking the hung kernel for {what}"));
            }
            Progress::CellRetried { cell, other_cores } => {
                self.line(
                    &state,
                    format!("noisy {cell} (other processes used {other_cores:.2} host cores): running it again"),
                );
            }
            Progress::CellEnded { cell, verdict, seconds, reason, .. } => {
                state.running.retain(|r| r != cell);
                if state.total.is_some() {
                    state.done += 1;
                }
                let because = match (verdict, reason) {
                    (Verdict::Pass, _) | (_, None) => String::new(),
                    (_, Some(reason)) => format!(": {reason}"),
                };
                self.line(&state, format!("{verdict:>5} {cell} in {}{because}", seconds_text(*seconds)));
            }
            Progress::CellRequeued { cell } => {
                state.running.retain(|r| r != cell);
                self.show_running(&state);
            }
            Progress::CellKept { cell } => {
                state.done += 1;
                self.line(&state, format!("{:>5} {cell} (finished before, kept)", "done"));
            }
            // The command prints its own summary: the record's, or the
            // report's table.
            Progress::RunFinished { .. } | Progress::Reported { .. } => {}
            Progress::MatrixFinished { seconds, build_seconds, boot_seconds, scenario_seconds } => {
                if let Some(bar) = lock(&self.cells_bar).take() {
                    bar.finish_and_clear();
                }
                state.total = None;
                self.line(
                    &state,
                    format!(
                        "matrix: done in {seconds:.1} s (kernels and images {build_seconds:.1} s, guest boots \
                         {boot_seconds:.1} s, scenarios {scenario_seconds:.1} s)"
                    ),
                );
            }
        }
    }
}

fn seconds_text(seconds: f64) -> String {
    format!("{seconds:.1} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_name_each_event() {
        let event = Progress::Step { boot: "upstream-2cpu".into(), step: 3, what: "unload victim_fops".into() };
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(line, r#"{"event":"step","boot":"upstream-2cpu","step":3,"what":"unload victim_fops"}"#);
    }

    #[test]
    fn human_counts_cells_only_in_a_matrix() {
        let human = Human::new(Detail::Cells, false);
        let ended = |cell: &str| Progress::CellEnded {
            cell: cell.into(),
            verdict: Verdict::Fail,
            seconds: 2.0,
            reason: Some("kernel log: warning".into()),
            dir: "/tmp/x".into(),
        };
        human.report(&ended("a"));
        assert_eq!(human.lock().done, 0, "a single run has no count");
        human.report(&Progress::MatrixStarted {
            cells: 2,
            baseline: "b".into(),
            candidate: "c".into(),
            scenarios: 1,
            vcpus: vec![2],
            boots_per_side: 1,
            shard: None,
            accel: "tcg".into(),
            run_dir: "/tmp/run".into(),
        });
        human.report(&Progress::CellStarted { boot: "b-2cpu-r1".into(), cell: "b".into() });
        assert_eq!(human.lock().running, ["b"]);
        human.report(&ended("b"));
        human.report(&Progress::CellKept { cell: "c".into() });
        let state = human.lock();
        assert_eq!((state.done, state.running.len()), (2, 0));
    }
}
