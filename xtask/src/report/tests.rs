//! Snapshot tests of every format on synthetic summaries (built by
//! `diff::diff` from made-up cells, so they follow the real pipeline), plus
//! structural checks that do not depend on the snapshots being reviewed.
//!
//! `MODRIG_BLESS=1 cargo test -p xtask --lib report` rewrites the snapshots
//! under `xtask/tests/fixtures/report/<case>/`; review the diff.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::*;
use crate::classify::{EventClass, KernelEvent};
use crate::diff::{self, CellKey, CellResult, Claim, ClaimedChange, DiffConfig, ExpectedChange, FindingKind, Side};
use crate::guest::accel::AccelDecision;
use crate::guest::hostload::HostLoad;
use crate::guest::qemu::Accel;
use crate::record::RunRecord;
use crate::scenario::compile::Metrics;
use crate::verdict::RunEnd;

const BASELINE: &str = "upstream";
const CANDIDATE: &str = "patched";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

/// `n` samples around `median_ms`, in ns: a deterministic permutation of
/// an even ±15 % spread, with every 11th sample a 1.4x..2.2x outlier (the tail a
/// TCG guest always has). `seed` changes the order, not the values.
fn samples(n: usize, median_ms: f64, seed: usize) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let k = (i * 61 + seed * 17) % n;
            let spread = 0.85 + 0.3 * k as f64 / n as f64;
            let tail = if k % 11 == 10 { 1.4 + 0.2 * (k / 11) as f64 } else { 1.0 };
            (median_ms * spread * tail * 1e6).round() as u64
        })
        .collect()
}

/// A cell of a scenario run; `metrics` only matter when it passed.
fn cell(variant: &str, scenario: &str, vcpus: u32, rep: u32, verdict: Verdict) -> CellResult {
    let dir = format!("cells/{variant}/{scenario}/{vcpus}cpu-r{rep}");
    let end = match verdict {
        Verdict::Pass | Verdict::Fail => RunEnd::Done,
        Verdict::Hang => RunEnd::DetectorFired,
        Verdict::Panic => RunEnd::GuestExited,
        Verdict::Infra => RunEnd::RigError { message: "the guest never reached the agent".to_string() },
    };
    CellResult {
        key: CellKey { variant: variant.to_string(), scenario: scenario.to_string(), vcpus, rep },
        record: RunRecord {
            schema: 1,
            verdict,
            reasons: vec![],
            scenario: scenario.to_string(),
            variant: variant.to_string(),
            kernel_key: format!("{:0>64}", variant.len()),
            kernel_release: "6.12.117+".to_string(),
            vcpus,
            accel: AccelDecision { accel: Accel::Tcg, how: "tcg (asked for)".to_string() },
            end,
            boot_to_init_ms: Some(1110.0),
            boot_to_ready_ms: Some(1132.0),
            wall_ms: 4000.0 + 250.0 * rep as f64 + 10.0 * vcpus as f64,
            kernel_events: vec![],
            metrics: Some(Metrics::default()),
            console_log: PathBuf::from(format!("{dir}/console.log")),
            events_log: PathBuf::from(format!("{dir}/events.jsonl")),
            host_load: None,
            boot: None,
        },
    }
}

fn metrics(cell: &mut CellResult) -> &mut Metrics {
    cell.record.metrics.get_or_insert_with(Metrics::default)
}

fn event(class: EventClass, excerpt: &str, first_line: usize) -> KernelEvent {
    let lines: Vec<&str> = excerpt.lines().collect();
    // The title is the headline without its timestamp, as classify makes it.
    let headline = lines.iter().find(|l| !l.contains("cut here")).copied().unwrap_or_default();
    let title = headline.split_once("] ").map(|(_, t)| t).unwrap_or(headline).to_string();
    KernelEvent {
        class,
        title,
        excerpt: excerpt.to_string(),
        first_line,
        last_line: first_line + lines.len() - 1,
        cpu: Some(1),
        pid: Some(61),
        task: Some("agent".to_string()),
    }
}

const BUG_EXCERPT: &str = "\
[   12.803512] ------------[ cut here ]------------
[   12.803617] kernel BUG at kernel/module/main.c:156!
[   12.803902] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[   12.804011] CPU: 1 UID: 0 PID: 61 Comm: agent Tainted: G           O       6.12.117+ #1
[   12.804108] Tainted: [O]=OOT_MODULE
[   12.804150] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   12.804290] RIP: 0010:module_put+0x5a/0x60
[   12.804355] Code: 48 8b 5d f8 c9 c3 cc cc cc cc 0f 0b 66 2e 0f 1f 84 00 00 00 00 00 <0f> 0b 90 90 90 90 90 90
[   12.804511] RSP: 0018:ffffc900001a3e48 EFLAGS: 00010246
[   12.804577] RAX: 0000000000000000 RBX: ffffffffa0002040 RCX: 0000000000000000
[   12.804645] Call Trace:
[   12.804671]  <TASK>
[   12.804690]  ? die+0x36/0x90
[   12.804731]  ? do_trap+0xdd/0x100
[   12.804770]  ? module_put+0x5a/0x60
[   12.804812]  victim_release+0x1c/0x30 [modrig_victim]
[   12.804866]  __x64_sys_delete_module+0x193/0x270
[   12.804913]  do_syscall_64+0x4c/0x100
[   12.804951]  entry_SYSCALL_64_after_hwframe+0x4b/0x53
[   12.805002]  </TASK>
[   12.805021] ---[ end trace 0000000000000000 ]---";

const PANIC_EXCERPT: &str = "\
[   12.805133] Kernel panic - not syncing: Fatal exception
[   12.805412] Kernel Offset: disabled
[   12.805467] ---[ end Kernel panic - not syncing: Fatal exception ]---";

const HUNG_EXCERPT: &str = "\
[   20.809118] INFO: task rmmod:44 blocked for more than 10 seconds.
[   20.809524]       Tainted: G           O       6.12.117+ #1
[   20.809618] \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.
[   20.809723] task:rmmod           state:D stack:0     pid:44    tgid:44    ppid:1      flags:0x00000002
[   20.810147] Call Trace:
[   20.810381]  <TASK>
[   20.810539]  __schedule+0x278/0x590
[   20.811226]  schedule+0x22/0xa0
[   20.811305]  __wait_for_common+0x7b/0x170
[   20.811394]  victim_exit+0x18/0x1000 [modrig_victim]
[   20.811656]  __x64_sys_delete_module+0x193/0x270
[   20.811703]  do_syscall_64+0x4c/0x100
[   20.811737]  entry_SYSCALL_64_after_hwframe+0x4b/0x53
[   20.812332]  </TASK>";

const TCG_EXCERPT: &str = "\
[    0.605412] Oops: int3: 0000 [#1] PREEMPT SMP
[    0.605522] RIP: 0010:sched_clock_cpu+0x9/0x1a0";

fn summarize(cells: &[CellResult], config: &DiffConfig) -> Summary {
    let side = |label: &str| Side {
        label: label.to_string(),
        cells: cells.iter().filter(|c| c.key.variant == label).collect(),
    };
    diff::diff(&side(BASELINE), &side(CANDIDATE), vec!["20250611T101500Z".to_string()], config)
}

/// How far each boot's median sits from the side's (by repetition): boots
/// of one kernel differ, and the statistics must see that.
const BOOT_FACTOR: [f64; 8] = [1.0, 1.0, 1.07, 0.94, 1.12, 0.97, 1.04, 0.9];

/// A boot's median: `median_ms` moved by the boot's factor, `damp` of it
/// (0: every boot alike, 1: the full ±10 %).
fn boot_median(median_ms: f64, rep: u32, damp: f64) -> f64 {
    median_ms * (1.0 + (BOOT_FACTOR[rep as usize % BOOT_FACTOR.len()] - 1.0) * damp)
}

/// Marks a cell as run while other processes kept `cores` host cores busy.
fn busy_host(cell: &mut CellResult, cores: f64) {
    cell.record.host_load = Some(HostLoad { other_cores: cores, window_s: 3.2, qemu_cores: 2.0 });
}

/// A correctness regression (a PANIC with a kernel BUG), a metric
/// regression (unload 2x slower), an improvement and an unchanged metric,
/// six PASS boots a side.
fn regressed() -> Summary {
    let (s, v) = ("unload-noise", 2);
    let mut cells = Vec::new();
    for rep in 1..=6 {
        let mut c = cell(BASELINE, s, v, rep, Verdict::Pass);
        let m = metrics(&mut c);
        m.unload_latency_ns = samples(12, boot_median(4.31, rep, 1.0), rep as usize);
        m.stall_other_cpus_ns = samples(12, boot_median(4.0, rep, 1.0), rep as usize + 7);
        m.load_latency_ns = samples(12, boot_median(0.9, rep, 0.2), rep as usize);
        cells.push(c);
    }
    let mut panicked = cell(CANDIDATE, s, v, 1, Verdict::Panic);
    panicked.record.reasons = vec!["the kernel panicked: Kernel panic - not syncing: Fatal exception".to_string()];
    panicked.record.kernel_events =
        vec![event(EventClass::Bug, BUG_EXCERPT, 412), event(EventClass::Panic, PANIC_EXCERPT, 432)];
    panicked.record.metrics = None;
    cells.push(panicked);
    for rep in 2..=7 {
        let mut c = cell(CANDIDATE, s, v, rep, Verdict::Pass);
        let m = metrics(&mut c);
        m.unload_latency_ns = samples(12, boot_median(8.62, rep, 1.0), rep as usize + 3);
        m.stall_other_cpus_ns = samples(12, boot_median(1.0, rep, 1.0), rep as usize);
        m.load_latency_ns = samples(12, boot_median(0.9, rep + 1, 0.2), rep as usize - 1);
        cells.push(c);
    }
    summarize(&cells, &DiffConfig::default())
}

/// Stalls 16x shorter at 2 and 4 vCPUs, an unload regression the matrix
/// expects, six boots a side of which one candidate boot ran on a busy host
/// (left out), and two claims: the stalls one holds, "loading is faster"
/// does not (unchanged).
fn improved() -> Summary {
    let mut cells = Vec::new();
    for vcpus in [2, 4] {
        for rep in 1..=6 {
            for (variant, stall, unload) in [(BASELINE, 4.31, 15.0), (CANDIDATE, 4.31 / 16.0, 22.0)] {
                let mut c = cell(variant, "unload-noise", vcpus, rep, Verdict::Pass);
                let seed = rep as usize + vcpus as usize;
                let m = metrics(&mut c);
                m.stall_other_cpus_ns = samples(12, boot_median(stall, rep, 1.0), seed);
                m.unload_latency_ns = samples(12, boot_median(unload, rep + 1, 1.0), seed + 1);
                m.load_latency_ns = samples(12, boot_median(0.74, rep + 2, 0.2), seed);
                m.refcount_ops_per_sec = (0..vcpus).map(|cpu| (cpu, 21_000_000 + 37_000 * u64::from(cpu))).collect();
                if variant == CANDIDATE && vcpus == 4 && rep == 6 {
                    busy_host(&mut c, 1.7);
                }
                cells.push(c);
            }
        }
    }
    let config = DiffConfig {
        expected: vec![ExpectedChange {
            scenario: Some("unload-noise".to_string()),
            metric: "unload_latency".to_string(),
            change: Change::Regressed,
            why: "unload now waits for an RCU grace period instead of stopping every CPU".to_string(),
        }],
        claims: vec![
            Claim {
                says: "Unloading a module no longer stops the other CPUs: their stalls are 16x shorter".to_string(),
                metric: "stall_other_cpus".to_string(),
                change: ClaimedChange::Improved,
                scenarios: vec![],
                vcpus: vec![],
            },
            Claim {
                says: "Loading is faster too".to_string(),
                metric: "load_latency".to_string(),
                change: ClaimedChange::Improved,
                scenarios: vec!["unload-noise".to_string()],
                vcpus: vec![2, 4],
            },
        ],
        ..DiffConfig::default()
    };
    summarize(&cells, &config)
}

/// What cannot be judged: three boots a side (too few), one
/// cycles_per_sec per boot, boots that spread more than the change, a
/// metric only the candidate measured, and a side left with too few boots
/// by a busy host.
fn inconclusive() -> Summary {
    let mut cells = Vec::new();
    for (variant, unload, cycles) in [(BASELINE, 10.0, 61.5), (CANDIDATE, 18.0, 58.25)] {
        for rep in 1..=3 {
            let mut c = cell(variant, "unload-noise", 2, rep, Verdict::Pass);
            let m = metrics(&mut c);
            m.unload_latency_ns = samples(6, boot_median(unload, rep, 1.0), rep as usize);
            m.cycles_per_sec = Some(cycles * boot_median(1.0, rep, 0.5));
            cells.push(c);
        }
    }
    // Boots 0.5x..1.6x apart: a 15 % shift is lost in them.
    let wide = [1.0, 0.55, 1.6, 0.8, 1.3, 0.65, 1.15];
    for (variant, stall) in [(BASELINE, 2.0), (CANDIDATE, 2.3)] {
        for rep in 1..=6u32 {
            let mut c = cell(variant, "refcount-hammer", 4, rep, Verdict::Pass);
            let m = metrics(&mut c);
            let shift = if variant == CANDIDATE { wide[(rep as usize + 2) % 7] } else { wide[rep as usize] };
            m.stall_other_cpus_ns = samples(8, stall * shift, 3);
            if variant == CANDIDATE {
                m.stall_other_cpus_thread_ns = samples(8, boot_median(3.1, rep, 1.0), 5);
            }
            cells.push(c);
        }
    }
    // Five boots a side, two of the candidate's on a busy host.
    for (variant, load) in [(BASELINE, 0.8), (CANDIDATE, 0.82)] {
        for rep in 1..=5 {
            let mut c = cell(variant, "unload-noise", 4, rep, Verdict::Pass);
            metrics(&mut c).load_latency_ns = samples(6, boot_median(load, rep, 1.0), rep as usize);
            match (variant, rep) {
                (CANDIDATE, 2) => busy_host(&mut c, 0.9),
                (CANDIDATE, 4) => busy_host(&mut c, 2.4),
                _ => busy_host(&mut c, 0.05),
            }
            cells.push(c);
        }
    }
    summarize(&cells, &DiffConfig::default())
}

/// A candidate cell that hung (hung_task), an INFRA cell on each kind of
/// scenario, and a scenario whose candidate side is all INFRA (missing).
fn hang() -> Summary {
    let (s, v) = ("unload-hang", 2);
    let mut cells = Vec::new();
    for rep in 1..=2 {
        let mut c = cell(BASELINE, s, v, rep, Verdict::Pass);
        metrics(&mut c).unload_latency_ns = samples(20, 12.2, rep as usize);
        cells.push(c);
    }
    let mut hung = cell(CANDIDATE, s, v, 1, Verdict::Hang);
    hung.record.reasons =
        vec!["a hang detector fired: INFO: task rmmod:44 blocked for more than 10 seconds.".to_string()];
    hung.record.kernel_events = vec![event(EventClass::HungTask, HUNG_EXCERPT, 22)];
    cells.push(hung);
    let mut infra = cell(CANDIDATE, s, v, 2, Verdict::Infra);
    infra.record.reasons =
        vec!["rig: the TCG code-patching flake (Oops: int3 in sched_clock_cpu) killed the guest at boot".to_string()];
    infra.record.kernel_events = vec![event(EventClass::TcgCodePatchingCrash, TCG_EXCERPT, 28)];
    infra.record.metrics = None;
    cells.push(infra);
    let mut c = cell(CANDIDATE, s, v, 3, Verdict::Pass);
    metrics(&mut c).unload_latency_ns = samples(20, 12.9, 3);
    cells.push(c);

    // A built-in program: no metrics, and the candidate never booted.
    let mut boot = cell(BASELINE, "boot", 4, 1, Verdict::Pass);
    boot.record.metrics = None;
    cells.push(boot);
    let mut boot = cell(CANDIDATE, "boot", 4, 1, Verdict::Infra);
    boot.record.reasons = vec!["rig: QEMU exited with status 1 before the guest booted".to_string()];
    boot.record.metrics = None;
    cells.push(boot);
    summarize(&cells, &DiffConfig::default())
}

fn cases() -> Vec<(&'static str, Summary)> {
    vec![("regressed", regressed()), ("improved", improved()), ("inconclusive", inconclusive()), ("hang", hang())]
}

#[test]
fn fixture_summaries_are_what_their_names_say() {
    let s = regressed();
    assert_eq!(s.status, Status::Regressed);
    let kinds: Vec<FindingKind> = s.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::VerdictChanged, FindingKind::NewEventClass, FindingKind::NewEventClass]);
    let changes: Vec<(&str, Change)> = s.comparisons.iter().map(|c| (c.metric.as_str(), c.change)).collect();
    assert_eq!(
        changes,
        [
            ("unload_latency", Change::Regressed),
            ("stall_other_cpus", Change::Improved),
            ("load_latency", Change::Unchanged)
        ]
    );
    let c = &s.comparisons[0];
    assert_eq!((c.baseline.boots, c.candidate.boots, c.baseline.n, c.candidate.n), (6, 6, 72, 72));
    assert!(c.baseline.spread.is_some_and(|s| s > 0.03) && c.p_adjusted.is_some());
    assert!(s.claims.is_empty() && s.noisy_cells.is_empty());

    let s = improved();
    assert_eq!(s.status, Status::Clean);
    let stalls: Vec<_> = s.comparisons.iter().filter(|c| c.metric == "stall_other_cpus").collect();
    assert_eq!(stalls.len(), 2);
    assert!(stalls.iter().all(|c| c.change == Change::Improved && c.baseline.boots == 6));
    // The busy-host boot is left out of the 4-vCPU comparisons.
    assert_eq!(s.noisy_cells.len(), 1);
    assert_eq!((stalls[1].vcpus, stalls[1].candidate.boots, stalls[1].candidate.noisy_boots), (4, 5, 1));
    assert!(s.comparisons.iter().any(|c| c.metric == "unload_latency" && c.expected.is_some()));
    assert!(!s.comparisons.iter().any(Comparison::is_regression));
    let holds: Vec<bool> = s.claims.iter().map(|c| c.holds).collect();
    assert_eq!(holds, [true, false]);
    assert!(s.claims.iter().all(|c| c.rows.len() == 2));

    let s = inconclusive();
    assert_eq!(s.status, Status::Clean);
    assert!(
        s.comparisons.iter().all(|c| c.change == Change::Inconclusive && c.reason.is_some()),
        "{:#?}",
        s.comparisons
    );
    let reasons: Vec<&str> = s.comparisons.iter().filter_map(|c| c.reason.as_deref()).collect();
    assert!(reasons.contains(&"3 and 3 boots: at least 5 per side are needed to judge"), "{reasons:#?}");
    assert!(reasons.iter().any(|r| r.starts_with("host too noisy to judge")), "{reasons:#?}");
    assert!(reasons.iter().any(|r| r.starts_with("too noisy to judge at 6 boots")), "{reasons:#?}");
    assert!(s.comparisons.iter().any(|c| c.baseline.boots == 0));
    assert_eq!(s.noisy_cells.len(), 2);

    let s = hang();
    assert_eq!(s.status, Status::Regressed);
    assert!(s.cells.iter().any(|c| c.verdict == Verdict::Hang));
    assert!(s.cells.iter().any(|c| c.verdict == Verdict::Infra));
    assert!(s.findings.iter().any(|f| f.kind == FindingKind::Missing));
}

#[test]
fn reports_match_the_snapshots() {
    let bless = std::env::var_os("MODRIG_BLESS").is_some();
    let mut stale = Vec::new();
    for (case, summary) in cases() {
        let dir = fixtures().join(case);
        let outputs = [
            ("terminal.txt", terminal(&summary, false)),
            ("report.md", markdown(&summary)),
            ("junit.xml", junit(&summary)),
            ("report.html", html(&summary)),
        ];
        for (file, got) in outputs {
            let path = dir.join(file);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &got).unwrap();
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("no snapshot {}; run with MODRIG_BLESS=1 and review it", path.display()));
            if got != want {
                stale.push(format!("{case}/{file}"));
            }
        }
    }
    // All stale files at once: one format change usually touches many.
    assert!(stale.is_empty(), "reports changed (MODRIG_BLESS=1 rewrites them; review the diff): {stale:?}");
}

#[test]
fn junit_is_well_formed_with_a_test_case_per_cell_comparison_and_regression() {
    for (case, summary) in cases() {
        let xml = junit(&summary);
        assert_well_formed(&xml);
        let regressions = summary.findings.iter().filter(|f| f.kind.is_regression()).count();
        assert_eq!(
            xml.matches("<testcase ").count(),
            summary.cells.len() + summary.comparisons.len() + regressions,
            "{case}"
        );
        let failures = summary.cells.iter().filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Infra)).count()
            + summary.comparisons.iter().filter(|c| c.is_regression()).count()
            + regressions;
        assert_eq!(xml.matches("<failure ").count(), failures, "{case}");
        let infra = summary.cells.iter().filter(|c| c.verdict == Verdict::Infra).count();
        assert_eq!(xml.matches("<error ").count(), infra, "{case}");
    }
}

#[test]
fn junit_escapes_markup_and_control_characters() {
    let mut summary = hang();
    summary.cells[0].verdict = Verdict::Fail;
    summary.cells[0].reasons = vec!["<b>&\"quoted\"</b>\u{1b}[0m\nsecond line".to_string()];
    let xml = junit(&summary);
    assert_well_formed(&xml);
    assert!(xml.contains("&lt;b&gt;&amp;&quot;quoted&quot;&lt;/b&gt;\u{fffd}[0m&#10;second line"), "{xml}");
}

#[test]
fn html_has_a_plot_per_comparison_with_samples_on_both_sides() {
    for (case, summary) in cases() {
        let page = html(&summary);
        let both = summary.comparisons.iter().filter(|c| c.baseline.n > 0 && c.candidate.n > 0).count();
        assert_eq!(page.matches("<svg").count(), both, "{case}");
        assert_eq!(page.matches("</svg>").count(), both, "{case}");
        // Self-contained: nothing fetched, no script.
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("<link"), "{case}");
        assert!(page.contains(&format!("baseline {BASELINE}")) && page.contains(&format!("candidate {CANDIDATE}")));
    }
    // A 16x change spans more than 30x: the plot's axis is logarithmic.
    assert!(html(&improved()).contains("stall_other_cpus (ms), log scale"));
}

#[test]
fn html_escapes_what_it_inserts() {
    let mut summary = regressed();
    summary.findings[0].excerpt = Some("<script>alert(1)</script> & co".to_string());
    summary.candidate = "patched<v2>".to_string();
    let page = html(&summary);
    assert!(!page.contains("<script") && !page.contains("<v2>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
}

#[test]
fn terminal_lists_regressions_first_and_stays_narrow() {
    let text = terminal(&regressed(), false);
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{text}"));
    let regression_row = text.lines().find(|l| l.contains("unload_latency") && l.ends_with("regressed")).unwrap();
    let improvement_row = text.lines().find(|l| l.contains("stall_other_cpus") && l.ends_with("improved")).unwrap();
    assert!(at("kernel BUG at kernel/module/main.c:156!") < at(regression_row));
    assert!(at(regression_row) < at(improvement_row));
    assert!(at(improvement_row) < at("status: regressed"));
    assert!(
        text.contains("1 metric unchanged")
            && !text.lines().any(|l| l.ends_with("unchanged") && l.contains("load_latency"))
    );
    assert!(text.contains("cells/patched/unload-noise/2cpu-r1/console.log"));
    let ansi = Regex::new("\x1b\\[[0-9;]*m").unwrap();
    for (case, summary) in cases() {
        for line in terminal(&summary, false).lines() {
            assert!(line.chars().count() <= 120, "{case}: {line:?}");
        }
        // Colour changes the escapes, not the text.
        assert_eq!(ansi.replace_all(&terminal(&summary, true), ""), terminal(&summary, false), "{case}");
    }
    assert!(terminal(&improved(), false).contains("regressed (expected)"));
}

#[test]
fn every_format_opens_with_the_claims() {
    let summary = improved();
    let md = markdown(&summary);
    let page = html(&summary);
    let text = terminal(&summary, false);
    let before = |doc: &str, first: &str, then: &str| {
        let at = |needle: &str| doc.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{doc}"));
        assert!(at(first) < at(then), "{first:?} after {then:?} in\n{doc}");
    };
    before(&md, "## Claims: 1 of 2 claims hold", "## Metrics");
    before(&md, "### HOLDS: Unloading a module", "### DOES NOT HOLD: Loading is faster too");
    before(&page, "<h2 id=\"claims\">Claims", "<h2>Metrics</h2>");
    before(&page, ">HOLDS</span>", ">DOES NOT HOLD</span>");
    before(&text, "Claims: 1 of 2 claims hold", "\nMetrics");
    // Before the correctness findings too, in every format.
    let mut with_panic = regressed();
    with_panic.claims = summary.claims.clone();
    before(&markdown(&with_panic), "## Claims", "## Correctness regressions");
    before(&html(&with_panic), "<h2 id=\"claims\">Claims", "<h2>Correctness regressions</h2>");
    before(&terminal(&with_panic, false), "Claims:", "Correctness regressions");
    // No claims, no section.
    let plain = regressed();
    assert!(!markdown(&plain).contains("Claims") && !html(&plain).contains("Claims"));
    assert!(!terminal(&plain, false).contains("Claims"));
}

#[test]
fn medians_show_the_spread_between_boots() {
    let summary = improved();
    let md = markdown(&summary);
    assert!(md.contains("| 4.34 ms ±7% |"), "{md}");
    assert!(md.contains("| 6 vs 5 (+1 noisy) |"), "{md}");
    assert!(terminal(&summary, false).contains("4.34 ms ±7%"));
    assert!(html(&summary).contains("4.34 ms ±7%"));
    // An empty side has neither.
    let md = markdown(&inconclusive());
    assert!(md.contains("| – | – / – | 3.10 ms ±7% |"), "{md}");
}

/// A matrix of ~150 comparisons, nearly all of which cannot be judged:
/// the terminal folds them by why, one line per kind.
#[test]
fn terminal_folds_what_cannot_be_judged_into_a_line_per_kind() {
    let mut cells = Vec::new();
    for scenario in 0..25 {
        for vcpus in [2, 4] {
            for (variant, unload) in [(BASELINE, 4.0), (CANDIDATE, 9.0)] {
                for rep in 1..=3 {
                    let mut c = cell(variant, &format!("scenario-{scenario:02}"), vcpus, rep, Verdict::Pass);
                    let m = metrics(&mut c);
                    m.unload_latency_ns = samples(4, boot_median(unload, rep, 1.0), rep as usize);
                    m.load_latency_ns = samples(4, boot_median(0.7, rep, 1.0), rep as usize);
                    m.stall_other_cpus_ns = samples(4, boot_median(2.0, rep, 1.0), rep as usize);
                    cells.push(c);
                }
            }
        }
    }
    let summary = summarize(&cells, &DiffConfig::default());
    assert_eq!(summary.comparisons.len(), 150);
    let text = terminal(&summary, false);
    assert!(text.lines().count() < 15, "{text}");
    assert!(
        text.contains("150 metrics inconclusive (3 and 3 boots: at least 5 per side are needed to judge)"),
        "{text}"
    );
    // The markdown still has every one of them, and each reason once.
    let md = markdown(&summary);
    assert_eq!(md.matches("| inconclusive (1) |").count(), 150);
    assert!(md.contains("1. 3 and 3 boots: at least 5 per side are needed to judge (150 comparisons)"));
}

#[test]
fn junit_says_boots_spread_adjusted_p_and_why() {
    let xml = junit(&inconclusive());
    assert!(xml.contains(
        "baseline median 9.75 ms ±9% (3 boots, n=18), candidate median 17.6 ms ±9% (3 boots, n=18), \
         ratio 1.80x [1.57, 2.09], p=0.10 (adjusted –); 3 and 3 boots: at least 5 per side are needed to judge"
    ));
    let xml = junit(&regressed());
    let failure = xml.lines().find(|l| l.contains("<failure type=\"regressed\"")).unwrap();
    assert!(failure.contains("(6 boots, n=72)") && failure.contains("(adjusted 0.0065)"), "{failure}");
}

#[test]
fn markdown_leads_with_the_headline() {
    let md = markdown(&regressed());
    let first = md.lines().next().unwrap();
    assert_eq!(
        first,
        "# baseline `upstream` vs candidate `patched`: 4 regressions (3 correctness, 1 metric), \
         1 improvement, 1 unchanged"
    );
    assert!(md.contains("```text\n[   12.803512] ------------[ cut here ]------------"));
}

#[test]
fn render_all_gives_every_format_in_file_order() {
    let summary = hang();
    let [md, json, xml, page] = render_all(&summary).unwrap();
    assert_eq!(FILES, ["report.md", "summary.json", "junit.xml", "report.html"]);
    let json: Summary = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (json.schema, json.status, json.cells.len()),
        (diff::SUMMARY_SCHEMA, Status::Regressed, summary.cells.len())
    );
    assert_eq!(json, summary);
    assert_eq!((md, xml, page), (markdown(&summary), junit(&summary), html(&summary)));
}

/// A strict enough XML check for our own output: one root, tags nest and
/// match, attributes are quoted, `&` only starts a known entity, `<` never
/// appears in text, and no control character XML 1.0 forbids.
fn assert_well_formed(xml: &str) {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("XML declaration");
    let tag = Regex::new(r#"^(/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(/?)$"#).unwrap();
    let entity = Regex::new(r"^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);").unwrap();
    let check_text = |text: &str| {
        for (i, _) in text.match_indices('&') {
            assert!(entity.is_match(&text[i..]), "bad entity at {:?}", &text[i..text.len().min(i + 12)]);
        }
        assert!(
            !text.chars().any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')),
            "control character in {text:?}"
        );
    };
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        assert!(!stack.is_empty() || rest[..lt].trim().is_empty(), "text outside the root");
        let gt = lt + rest[lt..].find('>').expect("unclosed tag");
        let inner = &rest[lt + 1..gt];
        let parts = tag.captures(inner).unwrap_or_else(|| panic!("malformed tag <{inner}>"));
        check_text(&parts[3]);
        let name = parts[2].to_string();
        if stack.is_empty() {
            roots += 1;
        }
        match (&parts[1], &parts[4]) {
            ("/", "") => assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "mismatched </{name}>"),
            ("", "/") => {}
            ("", "") => stack.push(name),
            _ => panic!("malformed tag <{inner}>"),
        }
        rest = &rest[gt + 1..];
    }
    assert!(rest.trim().is_empty() && stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(roots, 1);
}

/// `docs/summary-schema.md`'s example is a summary of this schema: every
/// field it shows exists, and none the schema requires is missing.
#[test]
fn the_schema_docs_example_reads_as_a_summary() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/summary-schema.md")).unwrap();
    let example = doc.split("```json\n").nth(1).and_then(|rest| rest.split("\n```").next()).expect("a json example");
    let summary: Summary = serde_json::from_str(example).unwrap();
    assert_eq!(summary.schema, diff::SUMMARY_SCHEMA);
    assert!(doc.starts_with(&format!("# `summary.json`, schema version {}", diff::SUMMARY_SCHEMA)));
    let value: serde_json::Value = serde_json::from_str(example).unwrap();
    let mut shown: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    shown.sort_unstable();
    let full = serde_json::to_value(improved()).unwrap();
    let mut all: Vec<&str> = full.as_object().unwrap().keys().map(String::as_str).collect();
    all.sort_unstable();
    assert_eq!(shown, all);
    for (field, example) in [("comparisons", &value["comparisons"][0]), ("claims", &value["claims"][0])] {
        let mut shown: Vec<&String> = example.as_object().unwrap().keys().collect();
        let real = &full[field][0];
        let mut all: Vec<&String> = real.as_object().unwrap().keys().collect();
        shown.sort_unstable();
        all.sort_unstable();
        assert_eq!(shown, all, "{field}");
    }
}
