use super::*;

const CLEAN_BOOT: &str = include_str!("../../../fixtures/console/clean-boot.log");
const WARN_IN_INIT: &str = include_str!("../../../fixtures/console/warn-in-init.log");
const PANIC_IN_INIT: &str = include_str!("../../../fixtures/console/panic-in-init.log");
const OOPS_NULL_DEREF: &str = include_str!("../../../fixtures/console/oops-null-deref.log");
const HUNG_RMMOD: &str = include_str!("../../../fixtures/console/hung-rmmod.log");
const SOFT_LOCKUP: &str = include_str!("../../../fixtures/console/soft-lockup.log");
const HARD_LOCKUP: &str = include_str!("../../../fixtures/console/hard-lockup.log");
const RCU_STALL: &str = include_str!("../../../fixtures/console/rcu-stall.log");
const LOCKDEP_CIRCULAR: &str = include_str!("../../../fixtures/console/lockdep-circular.log");
const KASAN_UAF: &str = include_str!("../../../fixtures/console/kasan-uaf.log");
const KFENCE: &str = include_str!("../../../fixtures/console/kfence.log");
const UBSAN_BOUNDS: &str = include_str!("../../../fixtures/console/ubsan-bounds.log");
const REFCOUNT_UNDERFLOW: &str = include_str!("../../../fixtures/console/refcount-underflow.log");
const TCG_INT3_FLAKE: &str = include_str!("../../../fixtures/console/tcg-int3-flake.log");
const SYSRQ_DUMPS: &str = include_str!("../../../fixtures/console/sysrq-dumps.log");
const MULTI: &str = include_str!("../../../fixtures/console/multi.log");

const FIXTURES: &[(&str, &str)] = &[
    ("clean-boot", CLEAN_BOOT),
    ("warn-in-init", WARN_IN_INIT),
    ("panic-in-init", PANIC_IN_INIT),
    ("oops-null-deref", OOPS_NULL_DEREF),
    ("hung-rmmod", HUNG_RMMOD),
    ("soft-lockup", SOFT_LOCKUP),
    ("hard-lockup", HARD_LOCKUP),
    ("rcu-stall", RCU_STALL),
    ("lockdep-circular", LOCKDEP_CIRCULAR),
    ("kasan-uaf", KASAN_UAF),
    ("kfence", KFENCE),
    ("ubsan-bounds", UBSAN_BOUNDS),
    ("refcount-underflow", REFCOUNT_UNDERFLOW),
    ("tcg-int3-flake", TCG_INT3_FLAKE),
    ("sysrq-dumps", SYSRQ_DUMPS),
    ("multi", MULTI),
];

/// What one event must be.
struct Expected<'a> {
    class: EventClass,
    title: &'a str,
    /// 1-based, inclusive.
    lines: (usize, usize),
    cpu: Option<u32>,
    pid: Option<u32>,
    task: Option<&'a str>,
    /// Text the excerpt must contain: the report's key lines.
    contains: &'a [&'a str],
    /// Text it must not: the console lines around the report.
    excludes: &'a [&'a str],
}

fn check(console: &str, expected: &[Expected<'_>]) {
    let events = classify(console);
    let found: Vec<_> = events.iter().map(|event| (event.class, event.first_line, event.last_line)).collect();
    let wanted: Vec<_> = expected.iter().map(|event| (event.class, event.lines.0, event.lines.1)).collect();
    assert_eq!(found, wanted);
    let lines: Vec<&str> = console.lines().collect();
    for (event, expected) in events.iter().zip(expected) {
        assert_eq!(event.title, expected.title);
        assert_eq!(
            (event.cpu, event.pid, event.task.as_deref()),
            (expected.cpu, expected.pid, expected.task),
            "identity of {}",
            event.title
        );
        assert_eq!(event.excerpt, lines[event.first_line - 1..event.last_line].join("\n"));
        for needle in expected.contains {
            assert!(event.excerpt.contains(needle), "{} lacks {needle:?}:\n{}", event.title, event.excerpt);
        }
        for needle in expected.excludes {
            assert!(!event.excerpt.contains(needle), "{} has {needle:?}:\n{}", event.title, event.excerpt);
        }
    }
}

/// Timestamps `lines` as printk does, 37 µs apart from 5 s on.
fn stamped(lines: &[&str]) -> String {
    let mut console = String::new();
    for (index, line) in lines.iter().enumerate() {
        let micros = 5_000_000 + 37 * index;
        console.push_str(&format!("[{:5}.{:06}] {line}\n", micros / 1_000_000, micros % 1_000_000));
    }
    console
}

#[test]
fn class_names_are_their_serde_names() {
    for class in EventClass::ALL {
        let json = serde_json::to_string(&class).unwrap();
        assert_eq!(json, format!("\"{}\"", class.name()));
        assert_eq!(serde_json::from_str::<EventClass>(&json).unwrap(), class);
        assert_eq!(class.to_string(), class.name());
        assert_eq!(class.is_infra(), class == EventClass::TcgCodePatchingCrash);
    }
    assert_eq!(EventClass::TcgCodePatchingCrash.name(), "tcg_code_patching_crash");
    assert_eq!(EventClass::HungTask.name(), "hung_task");
}

#[test]
fn clean_boot_has_no_events() {
    // Lines that look like reports to a careless reader.
    for line in ["rcu: \tRCU restricting CPUs", "sysrq: sysrq always enabled.", "and report a bug", "MODRIG-INIT-READY"]
    {
        assert!(CLEAN_BOOT.contains(line), "{line}");
    }
    assert_eq!(classify(CLEAN_BOOT), []);
}

#[test]
fn warn_in_init() {
    assert!(WARN_IN_INIT.contains("\r\n"), "captured from the serial port, with its CRLF line endings");
    check(
        WARN_IN_INIT,
        &[Expected {
            class: EventClass::Warning,
            title: "WARNING: CPU: 0 PID: 42 at /work/main/guests/modules/fixture_warn.c:13 \
                    fixture_warn_init+0xc/0x1000 [fixture_warn]",
            lines: (20, 55),
            cpu: Some(0),
            pid: Some(42),
            task: Some("insmod"),
            contains: &[
                "------------[ cut here ]------------",
                "] modrig fixture: warning in init",
                "] Modules linked in: fixture_warn(O+)",
                "] RIP: 0010:fixture_warn_init+0xc/0x1000 [fixture_warn]",
                "] Call Trace:",
                "]  do_one_initcall+0x6e/0x1a0",
                "] ---[ end trace 0000000000000000 ]---",
            ],
            excludes: &["loading out-of-tree module", "modrig: insmod fixture_warn", "\r"],
        }],
    );
}

#[test]
fn panic_in_init() {
    check(
        PANIC_IN_INIT,
        &[Expected {
            class: EventClass::Panic,
            title: "Kernel panic - not syncing: modrig fixture: panic in init",
            lines: (20, 46),
            cpu: Some(1),
            pid: Some(42),
            task: Some("insmod"),
            contains: &[
                "]  panic+0x2ea/0x300",
                "]  ? 0xffffffffa0004000",
                "]  fixture_panic_init+0xc/0x1000 [fixture_panic]",
                "] Kernel Offset: disabled",
                "] ---[ end Kernel panic - not syncing: modrig fixture: panic in init ]---",
            ],
            excludes: &["loading out-of-tree module"],
        }],
    );
}

#[test]
fn oops_then_panic_are_two_events() {
    check(
        OOPS_NULL_DEREF,
        &[
            Expected {
                class: EventClass::Oops,
                title: "BUG: kernel NULL pointer dereference, address: 0000000000000010",
                lines: (19, 68),
                cpu: Some(0),
                pid: Some(43),
                task: Some("insmod"),
                contains: &[
                    "] #PF: supervisor read access in kernel mode",
                    "] PGD 280e067 P4D 280e067 PUD 280f067 PMD 0 ",
                    "] Oops: Oops: 0000 [#1] PREEMPT SMP",
                    "] RIP: 0010:fixture_read+0x0/0x1000 [fixture_oops]",
                    "] Call Trace:",
                    "] Modules linked in: fixture_oops(O+)",
                    "] ---[ end trace 0000000000000000 ]---",
                    // The executive summary after the marker.
                    "[    0.641012] CR2: ffffffff9fffffd6",
                ],
                excludes: &["fixture_oops: dereferencing NULL", "Kernel panic"],
            },
            Expected {
                class: EventClass::Panic,
                title: "Kernel panic - not syncing: Fatal exception",
                lines: (69, 70),
                // panic() skips its stack dump after an Oops.
                cpu: None,
                pid: None,
                task: None,
                contains: &["] Kernel Offset: disabled"],
                excludes: &["RIP"],
            },
        ],
    );
}

#[test]
fn hung_rmmod_and_its_sysrq_dump() {
    // The sysrq dump repeats the task and its stack: it is not a report.
    assert!(HUNG_RMMOD.contains("] sysrq: Show Blocked State"));
    assert_eq!(HUNG_RMMOD.matches("] task:rmmod           state:D").count(), 2);
    check(
        HUNG_RMMOD,
        &[Expected {
            class: EventClass::HungTask,
            title: "INFO: task rmmod:44 blocked for more than 10 seconds.",
            lines: (22, 44),
            cpu: None,
            pid: Some(44),
            task: Some("rmmod"),
            contains: &[
                "]       Tainted: G           O       6.12.117+ #1",
                "] \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
                "] task:rmmod           state:D stack:0     pid:44",
                "]  __wait_for_common+0x7b/0x170",
                "]  fixture_hang_exit_exit+0x18/0x1000 [fixture_hang_exit]",
                "] RIP: 0033:0x47fbe9",
                "]  </TASK>",
            ],
            excludes: &["sysrq", "Switched to clocksource tsc"],
        }],
    );
}

#[test]
fn hung_task_keeps_its_lock_dump() {
    let report: Vec<&str> = HUNG_RMMOD.lines().take(44).collect();
    let console = format!(
        "{}\n{}modrig: after\n",
        report.join("\n"),
        [
            "[   20.808412] ",
            "[   20.808412] Showing all locks held in the system:",
            "[   20.808530] 1 lock held by khungtaskd/25:",
            "[   20.808561]  #0: ffffffff82b5d5e0 (rcu_read_lock){....}-{1:3}, at: debug_show_all_locks+0x32/0x1c0",
            "[   20.808702] ",
            "[   20.808731] =============================================",
            "[   20.808731] ",
            "",
        ]
        .join("\n")
    );
    let events = classify(&console);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].class, events[0].first_line, events[0].last_line), (EventClass::HungTask, 22, 50));
    assert!(events[0].excerpt.ends_with("] ============================================="));
}

#[test]
fn rcu_stall_through_its_backtraces() {
    check(
        RCU_STALL,
        &[Expected {
            class: EventClass::RcuStall,
            title: "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
            lines: (15, 130),
            // The stalled CPU and what it runs, not the CPU that reported
            // it nor where the grace-period kthread last ran.
            cpu: Some(1),
            pid: Some(45),
            task: Some("insmod"),
            contains: &[
                "] rcu: \t1-...!: (1 ticks this GP)",
                "] rcu: \t(detected by 0, t=2502 jiffies, g=-983, q=1 ncpus=2)",
                "] Sending NMI from CPU 0 to CPUs 1:",
                "] NMI backtrace for cpu 1",
                "] RIP: 0010:fixture_spin_wait+0x8/0x20 [fixture_spin]",
                "] INFO: NMI handler (nmi_cpu_backtrace_handler) took too long to run: 9.383 msecs",
                "] rcu: RCU grace-period kthread stack dump:",
                " Comm: migration/0 ",
            ],
            excludes: &["fixture_spin: spinning", "clocksource: Long readout interval"],
        }],
    );
}

#[test]
fn soft_lockup_after_a_self_detected_stall() {
    check(
        SOFT_LOCKUP,
        &[
            Expected {
                class: EventClass::RcuStall,
                title: "rcu: INFO: rcu_preempt self-detected stall on CPU",
                lines: (19, 72),
                cpu: Some(1),
                pid: Some(42),
                task: Some("insmod"),
                contains: &[
                    "] rcu: \t1-...!: (899 ticks this GP)",
                    "] task:rcu_preempt     state:R  running task",
                    "] RIP: 0010:fixture_spin_wait+0x1c/0x40 [fixture_spin]",
                    "]  fixture_spin_init+0x35/0x1000 [fixture_spin]",
                ],
                excludes: &["fixture_spin: spinning", "soft lockup"],
            },
            Expected {
                class: EventClass::SoftLockup,
                title: "watchdog: BUG: soft lockup - CPU#0 stuck for 10s! [migration/0:17]",
                lines: (73, 102),
                cpu: Some(0),
                pid: Some(17),
                task: Some("migration/0"),
                contains: &[
                    "] Modules linked in: fixture_spin(O+)",
                    "] Stopper: multi_cpu_stop+0x0/0xf0 <- __stop_cpus.constprop.0+0x69/0x90",
                    "] RIP: 0010:stop_machine_yield+0x2/0x10",
                    "]  cpu_stopper_thread+0x7f/0x130",
                ],
                excludes: &["fixture_spin: done"],
            },
        ],
    );
}

#[test]
fn hard_lockup_with_the_nmi_backtrace_of_its_cpu() {
    check(
        HARD_LOCKUP,
        &[Expected {
            class: EventClass::HardLockup,
            title: "watchdog: Watchdog detected hard LOCKUP on cpu 1",
            lines: (15, 69),
            cpu: Some(1),
            pid: Some(45),
            task: Some("insmod"),
            contains: &[
                "] Modules linked in: fixture_spin(O+)",
                "] irq event stamp: 21586",
                "] Sending NMI from CPU 0 to CPUs 1:",
                "] NMI backtrace for cpu 1",
                "]  fixture_spin_init+0x8c/0x1000 [fixture_spin]",
            ],
            excludes: &["clocksource: Long readout interval"],
        }],
    );
}

#[test]
fn lockdep_splat_is_one_event_not_a_warning() {
    check(
        LOCKDEP_CIRCULAR,
        &[Expected {
            class: EventClass::Lockdep,
            title: "WARNING: possible circular locking dependency detected",
            lines: (15, 129),
            cpu: Some(1),
            pid: Some(46),
            task: Some("insmod"),
            contains: &[
                "] ======================================================",
                "] 6.12.117 #1 Tainted: G           O      ",
                "] insmod/46 is trying to acquire lock:",
                "] -> #1 (fixture_lock_b){+.+.}-{3:3}:",
                "]        fixture_take_a_then_b+0x1c/0x40 [fixture_lockdep]",
                "]  *** DEADLOCK ***",
                "]  #0: ffffffffa0008068 (fixture_lock_b){+.+.}-{3:3}",
                "] stack backtrace:",
                "]  print_circular_bug+0x5b4/0x9a0",
            ],
            excludes: &["loading out-of-tree module", "modrig: insmod"],
        }],
    );
}

#[test]
fn kasan_report_between_its_rules() {
    check(
        KASAN_UAF,
        &[Expected {
            class: EventClass::Kasan,
            title: "BUG: KASAN: slab-use-after-free in fixture_item_id+0x33/0x40 [fixture_kasan]",
            lines: (16, 114),
            cpu: Some(1),
            pid: Some(46),
            task: Some("insmod"),
            contains: &[
                "] Read of size 4 at addr ffff8880042ea5c0 by task insmod/46",
                "] Call Trace:",
                "] Allocated by task 46:",
                "] Freed by task 46:",
                "] The buggy address belongs to the object at ffff8880042ea5c0",
                "] Memory state around the buggy address:",
                "] >ffff8880042ea580: 00 00 00 00 fc fc fc fc fa fb fb fb fc fc fc fc",
            ],
            excludes: &["Disabling lock debugging due to kernel taint", "loading out-of-tree module"],
        }],
    );
}

#[test]
fn kfence_report_between_its_rules() {
    check(
        KFENCE,
        &[Expected {
            class: EventClass::Kfence,
            title: "BUG: KFENCE: use-after-free read in fixture_peek+0x23/0x30 [fixture_kfence]",
            lines: (18, 60),
            cpu: Some(1),
            pid: Some(46),
            task: Some("insmod"),
            contains: &[
                "] Use-after-free read at 0x(____ptrval____) (in kfence-#81):",
                "] allocated by task 46 on cpu 1 at 2.659277s (0.003670s ago):",
                "] freed by task 46 on cpu 1 at 2.659367s (0.004593s ago):",
                "] Hardware name: QEMU Standard PC",
            ],
            excludes: &["fixture_kfence: stale byte"],
        }],
    );
}

#[test]
fn ubsan_report() {
    check(
        UBSAN_BOUNDS,
        &[Expected {
            class: EventClass::Ubsan,
            title: "UBSAN: array-index-out-of-bounds in /work/main/guests/modules/fixture_ubsan.c:8:21",
            lines: (18, 59),
            cpu: Some(0),
            pid: Some(46),
            task: Some("insmod"),
            contains: &[
                "] ------------[ cut here ]------------",
                "] index 8 is out of range for type 'int [8]'",
                "]  __ubsan_handle_out_of_bounds+0xc2/0xf0",
                "] ---[ end trace ]---",
            ],
            excludes: &["fixture_ubsan: wrote slot 8"],
        }],
    );
}

#[test]
fn refcount_warnings_are_refcount_events() {
    check(
        REFCOUNT_UNDERFLOW,
        &[
            Expected {
                class: EventClass::Refcount,
                title: "refcount_t: decrement hit 0; leaking memory.",
                lines: (14, 50),
                cpu: Some(1),
                pid: Some(43),
                task: Some("insmod"),
                contains: &[
                    "lib/refcount.c:31 refcount_warn_saturate+0x42/0xe0",
                    "]  fixture_refcount_init+0x6b/0x1000",
                ],
                excludes: &["fixture_refcount: dropping a reference"],
            },
            Expected {
                class: EventClass::Refcount,
                title: "refcount_t: underflow; use-after-free.",
                lines: (52, 88),
                cpu: Some(1),
                pid: Some(43),
                task: Some("insmod"),
                contains: &[
                    "lib/refcount.c:28 refcount_warn_saturate+0xd8/0xe0",
                    "] Tainted: [W]=WARN, [O]=OOT_MODULE",
                ],
                excludes: &["fixture_refcount: dropping a reference", "modrig: insmod"],
            },
        ],
    );
}

#[test]
fn tcg_code_patching_crash_is_infra() {
    assert!(TCG_INT3_FLAKE.contains("\r\n"));
    check(
        TCG_INT3_FLAKE,
        &[
            Expected {
                class: EventClass::TcgCodePatchingCrash,
                title: "Oops: int3: 0000 [#1] PREEMPT SMP",
                lines: (28, 82),
                cpu: Some(1),
                pid: Some(0),
                task: Some("swapper/1"),
                contains: &[
                    "] RIP: 0010:sched_clock_cpu+0x1/0x30",
                    "]  <IRQ>",
                    "]  update_rq_clock.part.0+0x1d/0xac",
                    "] RIP: 0010:default_idle+0x13/0x15",
                    "] ---[ end trace 0000000000000000 ]---",
                ],
                excludes: &["Marking stable", "Kernel panic"],
            },
            Expected {
                class: EventClass::TcgCodePatchingCrash,
                title: "Kernel panic - not syncing: Fatal exception in interrupt",
                lines: (83, 84),
                cpu: None,
                pid: None,
                task: None,
                contains: &["] Kernel Offset: disabled"],
                excludes: &[],
            },
        ],
    );
}

#[test]
fn tcg_signature_needs_all_its_parts() {
    let classes = |console: &str| classify(console).iter().map(|event| event.class).collect::<Vec<_>>();
    let flake = [EventClass::TcgCodePatchingCrash, EventClass::TcgCodePatchingCrash];
    let kernel_fault = [EventClass::Oops, EventClass::Panic];
    assert_eq!(classes(TCG_INT3_FLAKE), flake);

    // A quiet boot does not print "Marking stable": the signature stands alone.
    let quiet: String = TCG_INT3_FLAKE.split_inclusive('\n').filter(|line| !line.contains("Marking stable")).collect();
    assert_eq!(classes(&quiet), flake);

    // The same crash long after the static key flipped is not the flake.
    let late: String = TCG_INT3_FLAKE
        .split_inclusive('\n')
        .enumerate()
        .map(|(index, line)| if index >= 27 { line.replace("[    0.6", "[   30.6") } else { line.to_string() })
        .collect();
    assert_eq!(classes(&late), kernel_fault);

    // An int3 anywhere else is the kernel's.
    let elsewhere = TCG_INT3_FLAKE.replace("RIP: 0010:sched_clock_cpu+0x1/0x30", "RIP: 0010:ftrace_stub+0x1/0x10");
    assert_eq!(classes(&elsewhere), kernel_fault);

    // Another Oops in sched_clock_cpu is the kernel's.
    let other_trap = TCG_INT3_FLAKE.replace("Oops: int3: 0000", "Oops: general protection fault: 0000");
    assert_eq!(classes(&other_trap), kernel_fault);
}

#[test]
fn sysrq_dumps_are_not_events() {
    check(
        SYSRQ_DUMPS,
        &[Expected {
            class: EventClass::Warning,
            title: "WARNING: CPU: 1 PID: 42 at /work/main/guests/modules/fixture_warn.c:13 \
                    fixture_warn_init+0xc/0x1000 [fixture_warn]",
            lines: (10, 45),
            cpu: Some(1),
            pid: Some(42),
            task: Some("insmod"),
            contains: &["] ---[ end trace 0000000000000000 ]---"],
            excludes: &["sysrq"],
        }],
    );
    let dumps: Vec<&str> = SYSRQ_DUMPS.lines().skip(45).collect();
    assert!(dumps[0].ends_with("sysrq: Show backtrace of all active CPUs"));
    assert!(dumps.iter().any(|line| line.ends_with("sysrq: Show State")));
    assert_eq!(classify(&dumps.join("\n")), []);
}

#[test]
fn multi_keeps_reports_apart() {
    check(
        MULTI,
        &[
            Expected {
                class: EventClass::Warning,
                title: "WARNING: CPU: 1 PID: 46 at /work/main/guests/modules/fixture_warn.c:13 \
                        fixture_warn_init+0xc/0x1000 [fixture_warn]",
                lines: (9, 51),
                cpu: Some(1),
                pid: Some(46),
                task: Some("insmod"),
                contains: &[
                    "] irq event stamp: 773",
                    "] softirqs last disabled at (365): [<ffffffff810fef0d>] irq_exit_rcu+0x5d/0xa0",
                    "] ---[ end trace 0000000000000000 ]---",
                ],
                excludes: &["modrig: insmod", "BUG:"],
            },
            Expected {
                class: EventClass::Bug,
                title: "BUG: sleeping function called from invalid context at \
                        /work/main/guests/modules/fixture_atomic.c:11",
                lines: (53, 78),
                cpu: Some(1),
                pid: Some(47),
                task: Some("insmod"),
                contains: &[
                    "] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 47, name: insmod",
                    "]  #0: ffffffffa0030058 (fixture_spinlock){+.+.}-{2:2}",
                    "] Preemption disabled at:",
                    "] [<0000000000000000>] 0x0",
                    "]  __might_resched+0x3ba/0x5e0",
                ],
                excludes: &["modrig: insmod", "====="],
            },
            Expected {
                class: EventClass::Lockdep,
                title: "WARNING: suspicious RCU usage",
                lines: (80, 117),
                cpu: Some(0),
                pid: Some(47),
                task: Some("insmod"),
                contains: &[
                    "] /work/main/guests/modules/fixture_atomic.c:17 suspicious rcu_dereference_check() usage!",
                    "] no locks held by insmod/47.",
                    "]  lockdep_rcu_suspicious+0x211/0x3b0",
                ],
                excludes: &["fixture_atomic: value 1", "sysrq", "__might_resched"],
            },
        ],
    );
}

#[test]
fn line_endings_do_not_matter() {
    for (name, console) in FIXTURES {
        let lf = console.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        let doubled = lf.replace('\n', "\r\r\n");
        assert_eq!(classify(&lf), classify(&crlf), "{name}");
        assert_eq!(classify(&lf), classify(&doubled), "{name}");
    }
}

#[test]
fn userspace_text_is_not_the_kernel() {
    // In a console with printk timestamps, untimestamped lines come from
    // userspace, whatever they say.
    let console = format!("{}BUG: this is a shell script\nKernel panic - not syncing: echo\n", stamped(&["boot"]));
    assert_eq!(classify(&console), []);
    // Without CONFIG_PRINTK_TIME nothing has a stamp, and reports are found all the same.
    let unstamped: String = WARN_IN_INIT
        .lines()
        .map(|line| match line.split_once("] ") {
            Some((stamp, message)) if stamp.starts_with('[') => format!("{message}\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    let events = classify(&unstamped);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].class, events[0].first_line, events[0].last_line), (EventClass::Warning, 20, 55));
}

#[test]
fn kernel_line_after_unterminated_userspace_output() {
    let console =
        WARN_IN_INIT.replace("[    0.744097] ------------[ cut", "modrig: no newline[    0.744097] ------------[ cut");
    let events = classify(&console);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].class, events[0].first_line, events[0].last_line), (EventClass::Warning, 20, 55));
    assert!(events[0].excerpt.starts_with("modrig: no newline[    0.744097] ------------[ cut here ]"));
}

#[test]
fn userspace_lines_inside_a_report_do_not_end_it() {
    let console =
        WARN_IN_INIT.replace("[    0.748069]  do_init_module", "modrig: interleaved\r\n[    0.748069]  do_init_module");
    let events = classify(&console);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].first_line, events[0].last_line), (20, 56));
    assert!(events[0].excerpt.contains("\nmodrig: interleaved\n"));
    // After the report, they are not part of it.
    assert!(!events[0].excerpt.contains("modrig: insmod fixture_warn"));
}

#[test]
fn printk_caller_ids_are_skipped() {
    let console = WARN_IN_INIT.replace("] ", "][    T42] ");
    let events = classify(&console);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].class, EventClass::Warning);
    assert!(events[0].title.starts_with("WARNING: CPU: 0 PID: 42 at "));
}

#[test]
fn other_oops_shapes() {
    // die_addr() with KASAN's hint, and BUG() followed by its invalid
    // opcode Oops: one event each.
    let console = stamped(&[
        "Oops: general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN",
        "KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]",
        "CPU: 0 UID: 0 PID: 51 Comm: modrig-agent Tainted: G           O       6.12.117 #1 ",
        "RIP: 0010:fixture_read+0x12/0x30 [fixture_oops]",
        "Call Trace:",
        " <TASK>",
        " do_one_initcall+0xbf/0x3a0",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
        "RIP: 0010:fixture_read+0x12/0x30 [fixture_oops]",
        "note: modrig-agent[51] exited with irqs disabled",
        "------------[ cut here ]------------",
        "kernel BUG at /work/main/guests/modules/fixture_bug.c:9!",
        "Oops: invalid opcode: 0000 [#2] PREEMPT SMP KASAN",
        "CPU: 1 UID: 0 PID: 52 Comm: modrig-agent Tainted: G      D    O       6.12.117 #1 ",
        "RIP: 0010:fixture_bug_init+0x5/0x10 [fixture_bug]",
        "Call Trace:",
        " <TASK>",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
    ]);
    check(
        &console,
        &[
            Expected {
                class: EventClass::Oops,
                title: "Oops: general protection fault, probably for non-canonical address \
                        0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN",
                lines: (1, 10),
                cpu: Some(0),
                pid: Some(51),
                task: Some("modrig-agent"),
                contains: &["KASAN: null-ptr-deref"],
                excludes: &["note:"],
            },
            Expected {
                class: EventClass::Bug,
                title: "kernel BUG at /work/main/guests/modules/fixture_bug.c:9!",
                lines: (12, 20),
                cpu: Some(1),
                pid: Some(52),
                task: Some("modrig-agent"),
                contains: &["cut here", "Oops: invalid opcode: 0000 [#2]"],
                excludes: &["note:"],
            },
        ],
    );
}

#[test]
fn truncated_reports_end_where_the_console_ends() {
    let lines: Vec<&str> = WARN_IN_INIT.lines().collect();
    // Line 22 is the WARNING line; the report runs to line 55.
    for end in 22..=55 {
        let events = classify(&lines[..end].join("\n"));
        assert_eq!(events.len(), 1, "cut after line {end}");
        assert_eq!((events[0].first_line, events[0].last_line), (20, end));
    }
    assert_eq!(classify(&lines[..21].join("\n")), []);
}

/// No event is empty, out of order, overlapping or past the console.
fn assert_well_formed(console: &str, events: &[KernelEvent]) {
    let line_count = console.split('\n').count();
    let mut previous_last = 0;
    for event in events {
        assert!(previous_last < event.first_line && event.first_line <= event.last_line, "{event:?}");
        assert!(event.last_line <= line_count, "{event:?}");
        assert!(!event.title.is_empty());
        previous_last = event.last_line;
    }
}

#[test]
fn truncation_anywhere_never_panics() {
    for (name, console) in FIXTURES {
        let mut cut = 0;
        while cut < console.len() {
            let prefix = &console[..cut];
            assert_well_formed(prefix, &classify(prefix));
            // Every line end, and a few points inside lines.
            cut += if *name == "multi" { 1 } else { console[cut..].find('\n').map_or(1, |at| at + 1).min(41) };
            while !console.is_char_boundary(cut) {
                cut += 1;
            }
        }
    }
}

/// xorshift64*: a fixed sequence of pseudo-random numbers.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    // Pieces of real reports, shuffled, with raw bytes in between.
    const PIECES: &[&str] = &[
        "\n",
        "\r\n",
        "\r",
        "[",
        "]",
        " ",
        "\t",
        "[    1.234567] ",
        "[99999999999999999999.123456] ",
        "[ 1.1] ",
        "][    T1] ",
        "WARNING: CPU: ",
        "WARNING: ",
        "BUG: ",
        "BUG: KASAN: ",
        "Oops: int3: ",
        "Oops: ",
        "kernel BUG at ",
        "UBSAN: ",
        "Kernel panic - not syncing: ",
        "INFO: task a:",
        " blocked for more than ",
        "rcu: INFO: x detected stalls on CPUs/tasks:",
        "rcu: \t1-",
        "watchdog: BUG: soft lockup - CPU#",
        "Watchdog detected hard LOCKUP on cpu ",
        "sched_clock: Marking stable",
        "RIP: 0010:sched_clock_cpu+0x1/0x2",
        "CPU: ",
        " UID: ",
        " PID: ",
        " Comm: ",
        " Tainted: ",
        "Call Trace:",
        " <TASK>",
        " </TASK>",
        " ? f+0x1/0x2",
        "+0x",
        "/0x",
        "[<",
        ">] ",
        "=============",
        "-------------",
        "------------[ cut here ]------------",
        "---[ end trace ",
        "---[ end Kernel panic",
        "Showing all locks held in the system:",
        "task:",
        " state:",
        " pid:",
        "sysrq: ",
        "refcount_t: ",
        " #0: ",
        "1 lock held by ",
        "4294967296",
        "0",
        "9",
        ":",
        "é",
        "\u{1F600}",
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let mut bytes = Vec::new();
        for _ in 0..random.below(400) {
            if random.below(4) == 0 {
                bytes.push(random.next() as u8);
            } else {
                bytes.extend_from_slice(PIECES[random.below(PIECES.len())].as_bytes());
            }
        }
        let console = String::from_utf8_lossy(&bytes);
        assert_well_formed(&console, &classify(&console));
    }
    // Fixtures with random lines swapped in.
    for (_, console) in FIXTURES {
        let mut lines: Vec<&str> = console.lines().collect();
        for _ in 0..lines.len() / 4 {
            let (a, b) = (random.below(lines.len()), random.below(lines.len()));
            lines.swap(a, b);
        }
        let shuffled = lines.join("\n");
        assert_well_formed(&shuffled, &classify(&shuffled));
    }
}

#[test]
fn a_long_console_is_read_in_one_pass() {
    // ~1.7 MB: 120 boots' worth of multi.log. Asserts the result, not the time.
    let console = MULTI.repeat(120);
    let events = classify(&console);
    assert_eq!(events.len(), 3 * 120);
    let lines_per_copy = MULTI.lines().count();
    let last = events.last().unwrap();
    assert_eq!((last.class, last.first_line), (EventClass::Lockdep, 119 * lines_per_copy + 80));
}

/// A console captured from a real guest of Debian's 7.2.13 (base config,
/// QEMU TCG): `fixture_provoke`, the fixtures and the symbol-get race.
fn console_7_2(name: &str) -> String {
    let path = format!("{}/../fixtures/console/7.2/{name}.log", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The panic that ends a report under `oops=panic`: lines `at`-`at + 1`.
fn fatal_exception(at: usize) -> Expected<'static> {
    Expected {
        class: EventClass::Panic,
        title: "Kernel panic - not syncing: Fatal exception",
        lines: (at, at + 1),
        cpu: None,
        pid: None,
        task: None,
        contains: &[],
        excludes: &[],
    }
}

#[test]
fn mainline_7_2_reports_are_classified_with_their_new_formats() {
    // 7.x prints WARNINGs as "WARNING: file:line at symbol, CPU#n: comm/pid".
    check(
        &console_7_2("warn-in-init"),
        &[Expected {
            class: EventClass::Warning,
            title: "WARNING: fixture_warn.c:13 at fixture_warn_init+0x7/0x1000 [fixture_warn], CPU#0: modrig-agent/43",
            lines: (207, 242),
            cpu: Some(0),
            pid: Some(43),
            task: Some("modrig-agent"),
            contains: &["------------[ cut here ]------------", "modrig fixture: warning in init", "do_init_module"],
            excludes: &["loading out-of-tree module taints kernel"],
        }],
    );
    check(
        &console_7_2("bug"),
        &[
            Expected {
                class: EventClass::Bug,
                title: "kernel BUG at fixture_provoke.c:66!",
                lines: (203, 250),
                cpu: Some(1),
                pid: Some(42),
                task: Some("modrig-agent"),
                contains: &["Oops: invalid opcode", "fixture_provoke_init"],
                excludes: &[],
            },
            fatal_exception(251),
        ],
    );
    check(
        &console_7_2("oops-null-deref"),
        &[
            Expected {
                class: EventClass::Oops,
                title: "BUG: kernel NULL pointer dereference, address: 0000000000000000",
                lines: (204, 254),
                cpu: Some(0),
                pid: Some(42),
                task: Some("modrig-agent"),
                contains: &["fixture_provoke_init"],
                excludes: &[],
            },
            fatal_exception(255),
        ],
    );
    check(
        &console_7_2("soft-lockup"),
        &[Expected {
            class: EventClass::SoftLockup,
            title: "watchdog: BUG: soft lockup - CPU#1 stuck for 10s! [modrig-agent:42]",
            lines: (209, 242),
            cpu: Some(1),
            pid: Some(42),
            task: Some("modrig-agent"),
            contains: &["fixture_provoke_init"],
            excludes: &[],
        }],
    );
    check(
        &console_7_2("panic-in-init"),
        &[Expected {
            class: EventClass::Panic,
            title: "Kernel panic - not syncing: modrig fixture: panic in init",
            lines: (205, 231),
            cpu: Some(1),
            pid: Some(42),
            task: Some("modrig-agent"),
            contains: &["fixture_panic_init"],
            excludes: &[],
        }],
    );
    let hung = |title, lines| Expected {
        class: EventClass::HungTask,
        title,
        lines,
        cpu: None,
        pid: Some(42),
        task: Some("modrig-agent"),
        contains: &["fixture_hang_exit_exit"],
        excludes: &[],
    };
    check(
        &console_7_2("hung-rmmod"),
        &[
            hung("INFO: task modrig-agent:42 blocked for more than 10 seconds.", (212, 233)),
            hung("INFO: task modrig-agent:42 blocked for more than 20 seconds.", (952, 973)),
        ],
    );
    check(
        &console_7_2("symbol-get-bug"),
        &[
            Expected {
                class: EventClass::Bug,
                title: "kernel BUG at kernel/module/main.c:185!",
                lines: (206, 244),
                cpu: Some(0),
                pid: Some(45),
                task: Some("modrig_symget/0"),
                contains: &["__symbol_get+0xc1/0xd0", "churn_thread"],
                excludes: &[],
            },
            fatal_exception(245),
        ],
    );
}

/// A captured console: kernel, file name, the events it must give.
type Capture = (&'static str, &'static str, &'static [(EventClass, &'static str)]);

/// Every report class the fixtures provoke, on consoles captured from real
/// guests of Debian's 6.1.192 and 7.2.13 (base config, and base + debug for
/// KASAN; QEMU TCG): what the classifier finds, in order.
#[test]
fn lts_6_1_and_mainline_7_2_consoles_give_every_class_they_provoke() {
    use EventClass::*;
    const FATAL: (EventClass, &str) = (Panic, "Kernel panic - not syncing: Fatal exception");
    let cases: &[Capture] = &[
        ("6.1", "bug", &[(Bug, "kernel BUG at guests/modules/fixture_provoke.c:74!"), FATAL]),
        ("6.1", "oops-null-deref", &[(Oops, "BUG: kernel NULL pointer dereference, address: 0000000000000000"), FATAL]),
        ("6.1", "soft-lockup", &[(SoftLockup, "watchdog: BUG: soft lockup - CPU#0 stuck for 10s! [modrig-agent:35]")]),
        (
            "6.1",
            "warn-in-init",
            &[(
                Warning,
                "WARNING: CPU: 1 PID: 35 at guests/modules/fixture_warn.c:13 fixture_warn_init+0xc/0x1000 [fixture_warn]",
            )],
        ),
        ("6.1", "panic-in-init", &[(Panic, "Kernel panic - not syncing: modrig fixture: panic in init")]),
        (
            "6.1",
            "hung-rmmod",
            &[
                (HungTask, "INFO: task modrig-agent:35 blocked for more than 10 seconds."),
                (HungTask, "INFO: task modrig-agent:35 blocked for more than 20 seconds."),
            ],
        ),
        ("6.1", "symbol-get-bug", &[(Bug, "kernel BUG at kernel/module/main.c:150!"), FATAL]),
        ("6.1", "rcu-stall", &[(RcuStall, "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")]),
        // base + debug (KASAN, lockdep, ...): the report is not fatal.
        ("6.1", "kasan-uaf", &[(Kasan, "BUG: KASAN: use-after-free in provoke_kasan_uaf+0x3c/0x52 [fixture_provoke]")]),
        // 7.x names the slab kind.
        (
            "7.2",
            "kasan-uaf",
            &[(Kasan, "BUG: KASAN: slab-use-after-free in provoke_kasan_uaf+0x72/0x90 [fixture_provoke]")],
        ),
        ("7.2", "rcu-stall", &[(RcuStall, "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")]),
    ];
    for (kernel, name, want) in cases {
        let path = format!("{}/../fixtures/console/{kernel}/{name}.log", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let found: Vec<(EventClass, String)> = classify(&text).into_iter().map(|e| (e.class, e.title)).collect();
        let want: Vec<(EventClass, String)> = want.iter().map(|(class, title)| (*class, title.to_string())).collect();
        assert_eq!(found, want, "{kernel} {name}");
    }
}
