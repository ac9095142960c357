//! How [`Progress`] events look. Three reporters: progress bars on a
//! terminal, the same lines without bars elsewhere (CI logs), and JSON lines
//! on stdout for programs (`--json`). Human output goes to stderr, so that
//! stdout carries only results.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::{Progress, Reporter};
use crate::verdict::Verdict;

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
        if serde_json::to_writer(&mut out, event).is_ok() {
            let _ = writeln!(out);
        }
    }
}

/// Lines for people, with a bar of cells done when there is a terminal.
pub struct Human {
    detail: Detail,
    /// `None` when stderr is not a terminal.
    bar: Option<ProgressBar>,
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
        Human { detail, bar: interactive.then(ProgressBar::hidden), state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a line above the bar (or alone), prefixed with the count of
    /// cells done when the matrix's size is known.
    fn line(&self, state: &State, text: String) {
        let text = match state.total {
            Some(total) => format!("[{:>3}/{total}] {text}", state.done),
            None => text,
        };
        match &self.bar {
            Some(bar) if !bar.is_hidden() => {
                bar.set_position(state.done as u64);
                bar.set_message(state.running.join(", "));
                bar.println(text);
            }
            _ => eprintln!("{text}"),
        }
    }

    fn show_running(&self, state: &State) {
        if let Some(bar) = &self.bar {
            bar.set_message(state.running.join(", "));
        }
    }

    /// Turns the hidden bar into a visible one of `total` cells.
    fn start_bar(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {pos}/{len} cells, ETA {eta}  {wide_msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
        }
    }
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
                self.start_bar(*cells);
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
                if let Some(bar) = &self.bar {
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
