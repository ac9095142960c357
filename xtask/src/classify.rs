//! Finds the kernel's own reports in a guest's serial console: WARNINGs,
//! Oopses, panics, KASAN/KFENCE/UBSAN reports, lockdep splats, hung tasks,
//! lockups and RCU stalls. One report (its header, registers, call traces
//! and end marker) becomes one [`KernelEvent`].
//!
//! Pure: text in, events out. The formats are 6.12's (`kernel/panic.c`,
//! `lib/bug.c`, `arch/x86/kernel/dumpstack.c`, `mm/kasan/report.c`,
//! `kernel/locking/lockdep.c`, `kernel/hung_task.c`, `kernel/watchdog.c`,
//! `kernel/rcu/tree_stall.h`, ...); `fixtures/console/` holds consoles with
//! one or several reports each, most of them captured from real guests.
//!
//! How a report is cut out: a *header* line names it (`WARNING: CPU: ...`,
//! `Kernel panic - not syncing: ...`); a few lines above it may belong to it
//! too (`[ cut here ]`, the WARN message, the `=====` rule of lockdep and
//! KASAN). Below it the report goes on over the lines every report shares
//! (registers, `Call Trace:`, stack frames, `Modules linked in:`, ...) and
//! its own lines (`#PF:` of a page fault, `rcu:` lines of a stall, ...),
//! until its end marker or the first line that belongs to none of these.
//! Some reports print free text before their stack (lockdep's dependency
//! chain, KASAN's object description): a bounded run of such lines is kept
//! when report lines follow it. A sysrq dump is made of the same lines but
//! has no header, so it never becomes an event. In a console with printk
//! timestamps, a line without one is userspace's: never a header, and
//! skipped (kept in the excerpt) when it lands inside a report.

pub use crate::kernel_event::{EventClass, KernelEvent};

/// Finds the kernel reports in `console`, in console order. Never fails:
/// anything that is not a report is skipped.
pub fn classify(console: &str) -> Vec<KernelEvent> {
    let console = Console::new(console);
    let mut events = Vec::new();
    // The first line not yet part of an event: a report's preamble is never
    // looked for above it.
    let mut floor = 0;
    let mut index = 0;
    while index < console.lines.len() {
        let Some(kind) = console.header(index) else {
            index += 1;
            continue;
        };
        let start = console.report_start(kind, index, floor);
        let end = console.report_end(kind, index);
        events.push(console.event(kind, start, index, end));
        floor = end + 1;
        index = end + 1;
    }
    console.mark_tcg_flakes(&mut events);
    events
}

/// `WARN()`, `BUG()` and UBSAN print this above their report.
const CUT_HERE: &str = "------------[ cut here ]------------";

/// Where the TCG code-patching crash lands (see [`EventClass::TcgCodePatchingCrash`]).
const TCG_FLAKE_FUNCTIONS: &[&str] = &["sched_clock_cpu"];
/// How soon after `sched_clock: Marking stable` the crash counts as the
/// flake: the static key is flipped right after that line, so the crash
/// follows within moments; a later int3 there is something else.
const TCG_FLAKE_WINDOW_US: u64 = 10_000_000;
/// The same window for consoles without timestamps.
const TCG_FLAKE_WINDOW_LINES: usize = 200;

/// How many untimestamped (userspace) lines a report may be interleaved with.
const MAX_INTERLEAVED_USERSPACE_LINES: usize = 20;

/// Headers of the page-fault Oops (`arch/x86/mm/fault.c`).
const PAGE_FAULT_HEADERS: &[&str] =
    &["BUG: kernel NULL pointer dereference", "BUG: unable to handle page fault", "BUG: unable to handle kernel"];

/// How `kernel/rcu/tree_stall.h` and `tree_exp.h` start a stall warning
/// (after `rcu: INFO: <flavour> `).
const RCU_STALL_HEADERS: &[&str] =
    &["detected stalls on CPUs/tasks", "self-detected stall on CPU", "detected expedited stalls on CPUs/tasks"];

/// Lines of `show_regs()`/`__show_regs()` (x86-64 and i386).
const REGISTER_PREFIXES: &[&str] = &[
    "RIP: ", "EIP: ", "Code: ", "RSP: ", "RAX: ", "RDX: ", "RBP: ", "R10: ", "R13: ", "FS:  ", "CS:  ", "CR2: ",
    "DR0: ", "DR3: ", "PKRU: ", "EAX: ", "ESI: ", "DS: ", "CR0: ",
];

/// Other lines every kind of report may contain.
const REPORT_PREFIXES: &[&str] = &[
    "Call Trace:",
    "Modules linked in:",
    "Hardware name: ",
    "Tainted: [",
    "Workqueue: ",
    "Stopper: ",
    "Sched_ext: ",
    "irq event stamp: ",
    "hardirqs last ",
    "softirqs last ",
    "Preemption disabled at:",
    "---[ end trace",
];

/// How a report is recognised and where it ends; several kinds map to one
/// [`EventClass`] and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `WARNING: CPU: ...`: a Warning, or a Refcount when lib/refcount.c warns.
    Warn,
    /// `Oops: ...` or a page-fault `BUG:` header followed by its Oops.
    Oops,
    /// `kernel BUG at ...`, followed by its `Oops: invalid opcode`.
    KernelBug,
    /// Any other `BUG: ...` (might_sleep, scheduling while atomic, ...).
    Bug,
    /// A report framed by lines of `=` (KASAN, KFENCE, KCSAN, ...).
    Ruled(EventClass),
    Ubsan,
    Panic,
    Lockdep,
    HungTask,
    SoftLockup,
    HardLockup,
    RcuStall,
}

impl Kind {
    fn class(self) -> EventClass {
        match self {
            Kind::Warn => EventClass::Warning,
            Kind::Oops => EventClass::Oops,
            Kind::KernelBug | Kind::Bug => EventClass::Bug,
            Kind::Ruled(class) => class,
            Kind::Ubsan => EventClass::Ubsan,
            Kind::Panic => EventClass::Panic,
            Kind::Lockdep => EventClass::Lockdep,
            Kind::HungTask => EventClass::HungTask,
            Kind::SoftLockup => EventClass::SoftLockup,
            Kind::HardLockup => EventClass::HardLockup,
            Kind::RcuStall => EventClass::RcuStall,
        }
    }

    /// How many consecutive lines of free text the report may contain
    /// before and after its first `Call Trace:`. Such a run is kept only
    /// when a report line follows it.
    fn free_text_limits(self) -> (usize, usize) {
        match self {
            // KASAN and KFENCE describe the object and the shadow memory
            // after the stack, and end with a rule.
            Kind::Ruled(_) => (60, 60),
            // The dependency chain, the scenario and the held locks.
            Kind::Lockdep => (40, 0),
            // might_sleep(): in_atomic(), preempt_count, held locks, ...
            Kind::Bug => (20, 0),
            // The blank line before `Showing all locks held in the system:`.
            Kind::HungTask => (3, 1),
            // An NMI handler's "took too long" between two CPUs' dumps.
            Kind::RcuStall | Kind::HardLockup => (3, 2),
            Kind::Warn | Kind::Oops | Kind::KernelBug | Kind::Ubsan | Kind::Panic | Kind::SoftLockup => (4, 0),
        }
    }
}

/// What a report has shown so far, for the lines whose meaning depends on it.
#[derive(Debug, Default)]
struct ReportState {
    seen_call_trace: bool,
    seen_oops_line: bool,
    in_lock_dump: bool,
}

struct Line<'a> {
    /// The line as printed, without its line ending.
    raw: &'a str,
    /// The kernel's message: `raw` without the printk timestamp, trimmed at
    /// the end.
    msg: &'a str,
    /// The printk time in microseconds, when the line has a timestamp.
    time_us: Option<u64>,
}

struct Console<'a> {
    lines: Vec<Line<'a>>,
    /// Whether any line has a printk timestamp. If so, only timestamped
    /// lines can be headers: a userspace program that prints "BUG: " is not
    /// the kernel.
    stamped: bool,
    /// Indices of the `sched_clock: Marking stable` lines.
    marking_stable: Vec<usize>,
}

impl<'a> Console<'a> {
    fn new(text: &'a str) -> Console<'a> {
        let lines: Vec<Line<'a>> = text.split('\n').map(|raw| parse_line(raw.trim_end_matches('\r'))).collect();
        let stamped = lines.iter().any(|line| line.time_us.is_some());
        let marking_stable =
            (0..lines.len()).filter(|&index| lines[index].msg.starts_with("sched_clock: Marking stable")).collect();
        Console { lines, stamped, marking_stable }
    }

    fn msg(&self, index: usize) -> &'a str {
        self.lines.get(index).map_or("", |line| line.msg)
    }

    /// The kind of report whose header is line `index`, if it is one.
    fn header(&self, index: usize) -> Option<Kind> {
        let line = self.lines.get(index)?;
        if self.stamped && line.time_us.is_none() {
            return None;
        }
        let msg = line.msg;
        let after_rule = index > 0 && is_rule(self.msg(index - 1), '=');
        if is_warning_header(msg) {
            return Some(Kind::Warn);
        }
        if (msg.starts_with("WARNING: ") || msg.starts_with("[ BUG: "))
            && (after_rule || is_rule(self.msg(index + 2), '-'))
        {
            return Some(Kind::Lockdep);
        }
        if msg.starts_with("BUG: KASAN: ") {
            return Some(Kind::Ruled(EventClass::Kasan));
        }
        if msg.starts_with("BUG: KFENCE: ") {
            return Some(Kind::Ruled(EventClass::Kfence));
        }
        let watchdog = msg.strip_prefix("watchdog: ").or_else(|| msg.strip_prefix("NMI watchdog: ")).unwrap_or(msg);
        if watchdog.starts_with("BUG: soft lockup - CPU#") {
            return Some(Kind::SoftLockup);
        }
        if watchdog.starts_with("Watchdog detected hard LOCKUP on cpu ") {
            return Some(Kind::HardLockup);
        }
        if msg.starts_with("Oops: ") || PAGE_FAULT_HEADERS.iter().any(|header| msg.starts_with(header)) {
            return Some(Kind::Oops);
        }
        if msg.starts_with("kernel BUG at ") || msg.starts_with("Kernel BUG at ") {
            return Some(Kind::KernelBug);
        }
        if msg.starts_with("BUG: ") {
            return Some(if after_rule { Kind::Ruled(EventClass::Bug) } else { Kind::Bug });
        }
        if msg.starts_with("UBSAN: ") {
            return Some(Kind::Ubsan);
        }
        if msg.starts_with("Kernel panic - not syncing: ") {
            return Some(Kind::Panic);
        }
        if msg.starts_with("INFO: task ") && msg.contains(" blocked for more than ") {
            return Some(Kind::HungTask);
        }
        if is_rcu_stall_header(msg) {
            return Some(Kind::RcuStall);
        }
        None
    }

    /// Whether line `index` starts another report (or a sysrq dump), so the
    /// report being read cannot go on through it.
    fn starts_something_else(&self, index: usize) -> bool {
        let msg = self.msg(index);
        self.header(index).is_some()
            || msg == CUT_HERE
            || (is_rule(msg, '=') && self.header(index + 1).is_some())
            || msg.starts_with("sysrq: ")
    }

    /// The first line of the report whose header is line `header`: the
    /// lines printed above the header, never above `floor`.
    fn report_start(&self, kind: Kind, header: usize, floor: usize) -> usize {
        if header == 0 || header <= floor {
            return header;
        }
        let above = header - 1;
        match kind {
            // WARN(cond, fmt, ...) prints the cut line, then its message
            // (any number of lines), then the WARNING line.
            Kind::Warn => {
                let lowest = header.saturating_sub(10).max(floor);
                for index in (lowest..header).rev() {
                    if self.msg(index) == CUT_HERE {
                        return index;
                    }
                    if self.header(index).is_some() {
                        break;
                    }
                }
                header
            }
            Kind::KernelBug | Kind::Ubsan if self.msg(above) == CUT_HERE => above,
            Kind::Ruled(_) | Kind::Lockdep if is_rule(self.msg(above), '=') => above,
            _ => header,
        }
    }

    /// The last line of the report whose header is line `header`.
    fn report_end(&self, kind: Kind, header: usize) -> usize {
        let (free_before_trace, free_after_trace) = kind.free_text_limits();
        let mut state = ReportState { seen_oops_line: self.msg(header).starts_with("Oops: "), ..Default::default() };
        let mut end = header;
        let mut free_text = 0;
        let mut userspace = 0;
        for index in header + 1..self.lines.len() {
            if self.stamped && self.lines[index].time_us.is_none() {
                // Userspace writes to the console while the kernel prints:
                // its lines neither belong to the report nor end it.
                userspace += 1;
                if userspace > MAX_INTERLEAVED_USERSPACE_LINES {
                    break;
                }
                continue;
            }
            let msg = self.msg(index);
            if is_end_marker(kind, msg, &state) {
                end = index;
                if matches!(kind, Kind::Oops | Kind::KernelBug) {
                    // oops_end() repeats the registers after the marker
                    // ("executive summary").
                    while end + 1 < self.lines.len() && is_register_line(self.msg(end + 1)) {
                        end += 1;
                    }
                }
                return end;
            }
            let belongs = if is_own_line(kind, msg, &mut state) {
                true
            } else if self.starts_something_else(index) {
                break;
            } else if msg.starts_with("Call Trace:") {
                state.seen_call_trace = true;
                true
            } else {
                is_report_line(msg) || is_stack_line(msg)
            };
            if belongs {
                end = index;
                free_text = 0;
                userspace = 0;
                continue;
            }
            free_text += 1;
            let limit = if state.seen_call_trace { free_after_trace } else { free_before_trace };
            if free_text > limit {
                break;
            }
        }
        end
    }

    fn event(&self, kind: Kind, start: usize, header: usize, end: usize) -> KernelEvent {
        let header_msg = self.msg(header);
        let mut class = kind.class();
        let mut title = header_msg;
        if kind == Kind::Warn {
            // REFCOUNT_WARN() is a WARN_ONCE whose message names the problem;
            // the WARNING line itself only says lib/refcount.c.
            let message = (start..header).map(|index| self.msg(index)).find(|msg| msg.starts_with("refcount_t: "));
            if let Some(message) = message {
                class = EventClass::Refcount;
                title = message;
            } else if header_msg.contains("lib/refcount.c:") {
                class = EventClass::Refcount;
            }
        }
        let lines = &self.lines[start..=end];
        let identity = identity(kind, header_msg, lines);
        KernelEvent {
            class,
            title: title.to_string(),
            excerpt: lines.iter().map(|line| line.raw).collect::<Vec<_>>().join("\n"),
            first_line: start + 1,
            last_line: end + 1,
            cpu: identity.cpu,
            pid: identity.pid,
            task: identity.task.map(str::to_string),
        }
    }

    /// Re-classifies the TCG code-patching crash, and the panic right after
    /// it, as [`EventClass::TcgCodePatchingCrash`].
    fn mark_tcg_flakes(&self, events: &mut [KernelEvent]) {
        for index in 0..events.len() {
            if events[index].class != EventClass::Oops || !self.is_tcg_flake(&events[index]) {
                continue;
            }
            events[index].class = EventClass::TcgCodePatchingCrash;
            let oops_end = events[index].last_line;
            if let Some(next) = events.get_mut(index + 1) {
                if next.class == EventClass::Panic && next.first_line <= oops_end + 3 {
                    next.class = EventClass::TcgCodePatchingCrash;
                }
            }
        }
    }

    fn is_tcg_flake(&self, event: &KernelEvent) -> bool {
        let lines = &self.lines[event.first_line - 1..event.last_line];
        if !lines.iter().any(|line| line.msg.starts_with("Oops: int3:")) {
            return false;
        }
        let Some(rip) = lines.iter().find_map(|line| line.msg.strip_prefix("RIP: ")) else {
            return false;
        };
        // "RIP: 0010:sched_clock_cpu+0x9/0x1e0"
        let function = rip.split_once(':').map_or(rip, |(_, at)| at).split('+').next().unwrap_or("");
        if !TCG_FLAKE_FUNCTIONS.contains(&function) {
            return false;
        }
        let start = event.first_line - 1;
        let before = self.marking_stable.partition_point(|&index| index < start);
        if before == 0 {
            // A quiet boot (loglevel below KERN_INFO) does not print the
            // line; the signature alone is specific enough then.
            return self.marking_stable.is_empty();
        }
        let stable = self.marking_stable[before - 1];
        match (self.lines[stable].time_us, self.lines[start].time_us) {
            (Some(stable_us), Some(crash_us)) => crash_us.saturating_sub(stable_us) <= TCG_FLAKE_WINDOW_US,
            _ => start - stable <= TCG_FLAKE_WINDOW_LINES,
        }
    }
}

/// Splits a console line into its printk timestamp and message. The
/// timestamp need not start the line: a kernel line can follow userspace
/// output that did not end with a newline.
fn parse_line(raw: &str) -> Line<'_> {
    let mut from = 0;
    while let Some(offset) = raw[from..].find('[') {
        let at = from + offset;
        if let Some((time_us, length)) = parse_timestamp(&raw[at..]) {
            let rest = skip_caller_id(&raw[at + length..]);
            let msg = rest.strip_prefix(' ').unwrap_or(rest).trim_end();
            return Line { raw, msg, time_us: Some(time_us) };
        }
        from = at + 1;
    }
    Line { raw, msg: raw.trim_end(), time_us: None }
}

/// `[%5lu.%06lu]` at the start of `text`: the time in microseconds and the
/// length of the stamp.
fn parse_timestamp(text: &str) -> Option<(u64, usize)> {
    let bytes = text.as_bytes();
    let mut at = 1;
    while at < bytes.len() && at <= 12 && bytes[at] == b' ' {
        at += 1;
    }
    let seconds_start = at;
    while at < bytes.len() && at - seconds_start < 12 && bytes[at].is_ascii_digit() {
        at += 1;
    }
    if at == seconds_start || bytes.get(at) != Some(&b'.') {
        return None;
    }
    let seconds: u64 = text[seconds_start..at].parse().ok()?;
    let micros_start = at + 1;
    let micros_end = micros_start + 6;
    if bytes.len() <= micros_end
        || !bytes[micros_start..micros_end].iter().all(u8::is_ascii_digit)
        || bytes[micros_end] != b']'
    {
        return None;
    }
    let micros: u64 = text[micros_start..micros_end].parse().ok()?;
    let time_us = seconds.checked_mul(1_000_000)?.checked_add(micros)?;
    Some((time_us, micros_end + 1))
}

/// Skips CONFIG_PRINTK_CALLER's `[    T1]` / `[  C0]` after the timestamp.
fn skip_caller_id(text: &str) -> &str {
    let Some(inner) = text.strip_prefix('[') else {
        return text;
    };
    let Some((id, rest)) = inner.split_once(']') else {
        return text;
    };
    let id = id.trim_start();
    let is_caller = id.len() >= 2
        && (id.starts_with('T') || id.starts_with('C'))
        && id[1..].bytes().all(|byte| byte.is_ascii_digit());
    if is_caller {
        rest
    } else {
        text
    }
}

/// A line of one repeated character, like lockdep's and KASAN's frames.
fn is_rule(msg: &str, ch: char) -> bool {
    msg.len() >= 10 && msg.chars().all(|c| c == ch)
}

fn is_rcu_stall_header(msg: &str) -> bool {
    let msg = msg.strip_prefix("rcu: ").unwrap_or(msg);
    msg.starts_with("INFO: ") && RCU_STALL_HEADERS.iter().any(|header| msg.contains(header))
}

fn is_end_marker(kind: Kind, msg: &str, state: &ReportState) -> bool {
    match kind {
        Kind::Warn | Kind::Oops | Kind::KernelBug | Kind::Ubsan => msg.starts_with("---[ end trace"),
        Kind::Panic => msg.starts_with("---[ end Kernel panic"),
        Kind::Ruled(_) => is_rule(msg, '='),
        Kind::HungTask => state.in_lock_dump && is_rule(msg, '='),
        Kind::Bug | Kind::Lockdep | Kind::SoftLockup | Kind::HardLockup | Kind::RcuStall => false,
    }
}

/// Lines only one kind of report prints.
fn is_own_line(kind: Kind, msg: &str, state: &mut ReportState) -> bool {
    let nmi_backtrace = || {
        msg.starts_with("Sending NMI from CPU ")
            || msg.starts_with("NMI backtrace for cpu ")
            || msg.starts_with("INFO: NMI handler (")
    };
    match kind {
        Kind::Oops | Kind::KernelBug => {
            if msg.starts_with("Oops: ") && !state.seen_oops_line {
                state.seen_oops_line = true;
                return true;
            }
            ["#PF: ", "PGD ", "KASAN: ", "Thread overran stack"].iter().any(|prefix| msg.starts_with(prefix))
        }
        Kind::Panic => ["Kernel Offset: ", "Shutting down cpus with NMI", "Rebooting in ", "Dumping ftrace buffer"]
            .iter()
            .any(|prefix| msg.starts_with(prefix)),
        // report_cpu_status(): "CPU#1 Utilization every 4s during lockup:"
        // and its tab-indented rows.
        Kind::SoftLockup => msg.starts_with("CPU#") || msg.starts_with('\t'),
        Kind::HardLockup => nmi_backtrace(),
        Kind::RcuStall => {
            nmi_backtrace()
                || (msg.starts_with("rcu: ") && !is_rcu_stall_header(msg))
                || msg.starts_with("Task dump for CPU ")
                || msg.starts_with("task:")
        }
        Kind::HungTask => {
            let indented = msg.trim_start();
            if msg.starts_with("Showing all locks held in the system:") {
                state.in_lock_dump = true;
                return true;
            }
            (msg.starts_with("      ") && (indented.starts_with("Tainted: ") || indented.starts_with("Not tainted")))
                || msg.starts_with("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\"")
                || msg.starts_with("task:")
                || msg.starts_with("Future hung task reports are suppressed")
                || msg.starts_with("INFO: lockdep is turned off.")
        }
        Kind::Warn | Kind::Bug | Kind::Ruled(_) | Kind::Ubsan | Kind::Lockdep => false,
    }
}

fn is_register_line(msg: &str) -> bool {
    REGISTER_PREFIXES.iter().any(|prefix| msg.starts_with(prefix))
}

/// Lines that any report may contain: registers, the task's identity, the
/// module list, lockdep's IRQ trace and held locks.
fn is_report_line(msg: &str) -> bool {
    is_register_line(msg)
        || REPORT_PREFIXES.iter().any(|prefix| msg.starts_with(prefix))
        || parse_cpu_line(msg).is_some()
        || is_held_lock_line(msg)
}

/// lockdep_print_held_locks(): `2 locks held by insmod/95:`, ` #0: ...`.
fn is_held_lock_line(msg: &str) -> bool {
    if let Some(lock) = msg.strip_prefix(" #") {
        let digits = lock.bytes().take_while(u8::is_ascii_digit).count();
        return digits > 0 && lock[digits..].starts_with(": ");
    }
    if msg.starts_with("no locks held by ") {
        return true;
    }
    let digits = msg.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (msg[digits..].starts_with(" lock held by ") || msg[digits..].starts_with(" locks held by "))
}

/// A line of a stack trace: ` func+0x1a/0x30 [mod]`, ` ? func+0x1/0x2`,
/// ` 0xffffffffa0004000`, `[<ffffffff81234567>] func+0x1/0x2`, and the
/// stack markers (` <TASK>`, ` </IRQ>`, ...).
fn is_stack_line(msg: &str) -> bool {
    let body = msg.trim_start();
    let indented = body.len() < msg.len();
    if indented && is_stack_marker(body) {
        return true;
    }
    let frame = match body.strip_prefix("[<") {
        Some(rest) => match rest.split_once(">] ") {
            Some((_, frame)) => frame,
            None => return false,
        },
        None if indented => body.strip_prefix("? ").unwrap_or(body),
        None => return false,
    };
    let (symbol, rest) = frame.split_once(' ').unwrap_or((frame, ""));
    (is_symbol_offset(symbol) || is_address(symbol)) && (rest.is_empty() || rest.starts_with('['))
}

fn is_stack_marker(body: &str) -> bool {
    let Some(inner) = body.strip_prefix('<').and_then(|rest| rest.strip_suffix('>')) else {
        return false;
    };
    let inner = inner.strip_prefix('/').unwrap_or(inner);
    (1..=20).contains(&inner.len()) && inner.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"#_".contains(&byte))
}

/// `%pS`: `name+0xoffset/0xsize`.
fn is_symbol_offset(symbol: &str) -> bool {
    let Some((name, offsets)) = symbol.rsplit_once('+') else {
        return false;
    };
    let Some((offset, size)) = offsets.split_once('/') else {
        return false;
    };
    !name.is_empty()
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_.$".contains(&byte))
        && is_address(offset)
        && is_address(size)
}

/// `0x` and 1 to 16 hex digits.
fn is_address(text: &str) -> bool {
    text.strip_prefix("0x")
        .is_some_and(|hex| (1..=16).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The fields of dump_stack_print_info()'s line:
/// `CPU: 1 UID: 0 PID: 87 Comm: insmod Tainted: G O 6.12.0 #1`.
struct CpuLine<'a> {
    cpu: u32,
    pid: u32,
    comm: Option<&'a str>,
}

fn parse_cpu_line(msg: &str) -> Option<CpuLine<'_>> {
    let (cpu, rest) = leading_number(msg.strip_prefix("CPU: ")?)?;
    let rest = rest.strip_prefix(' ')?;
    // "UID: " appeared in 6.10.
    let rest = match rest.strip_prefix("UID: ") {
        Some(uid) => leading_number(uid)?.1.strip_prefix(' ')?,
        None => rest,
    };
    let (pid, rest) = leading_number(rest.strip_prefix("PID: ")?)?;
    let comm = rest.strip_prefix(" Comm: ").map(|rest| {
        // The name is %.20s and may contain spaces: it ends where the
        // taint (or "Kdump: loaded") begins.
        [" Kdump: loaded", " Not tainted", " Tainted: "]
            .iter()
            .filter_map(|marker| rest.find(marker))
            .min()
            .map_or_else(|| rest.split_whitespace().next().unwrap_or(""), |end| &rest[..end])
    });
    Some(CpuLine { cpu, pid, comm: comm.filter(|comm| !comm.is_empty()) })
}

/// A WARN()'s header line, in either of the kernel's formats:
/// `WARNING: CPU: 1 PID: 87 at kernel/module/main.c:12 f+0x7/0x10 [m]`
/// (up to 6.x), or `WARNING: kernel/module/main.c:12 at f+0x7/0x10 [m],
/// CPU#1: insmod/87` (7.x). Lockdep's `WARNING: possible ...` headers have
/// neither form.
fn is_warning_header(msg: &str) -> bool {
    let Some(rest) = msg.strip_prefix("WARNING: ") else { return false };
    if rest.starts_with("CPU: ") {
        return true;
    }
    // 7.x: "<file>:<line> at <symbol>..., CPU#<n>: <comm>/<pid>"
    let Some((place, after)) = rest.split_once(" at ") else { return false };
    let file_line = place.rsplit_once(':').is_some_and(|(file, line)| {
        !file.is_empty() && !file.contains(' ') && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
    });
    file_line && after.contains(", CPU#")
}

/// The decimal number at the start of `text`, and the rest.
fn leading_number(text: &str) -> Option<(u32, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

#[derive(Debug, Default)]
struct Identity<'a> {
    cpu: Option<u32>,
    pid: Option<u32>,
    task: Option<&'a str>,
}

/// The CPU, PID and task a report is about: from its header when the header
/// names them, then from the report's `CPU: ... PID: ... Comm: ...` line.
fn identity<'a>(kind: Kind, header: &'a str, lines: &[Line<'a>]) -> Identity<'a> {
    let mut identity = Identity::default();
    match kind {
        Kind::Warn => {
            // "WARNING: CPU: 1 PID: 87 at ..." (up to 6.x)
            if let Some((cpu, rest)) = header.strip_prefix("WARNING: CPU: ").and_then(leading_number) {
                identity.cpu = Some(cpu);
                identity.pid = rest.strip_prefix(" PID: ").and_then(leading_number).map(|(pid, _)| pid);
            } else if let Some((_, who)) = header.rsplit_once(", CPU#") {
                // "WARNING: file.c:13 at f+0x7/0x10 [m], CPU#0: insmod/43" (7.x)
                if let Some((cpu, task)) = leading_number(who) {
                    identity.cpu = Some(cpu);
                    if let Some((comm, pid)) = task.strip_prefix(": ").and_then(|task| task.rsplit_once('/')) {
                        identity.task = Some(comm);
                        identity.pid = leading_number(pid).map(|(pid, _)| pid);
                    }
                }
            }
        }
        Kind::SoftLockup => {
            // "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [insmod:95]"
            if let Some((_, cpu)) = header.split_once("CPU#") {
                identity.cpu = leading_number(cpu).map(|(cpu, _)| cpu);
            }
            let task = header.rsplit_once('[').and_then(|(_, task)| task.strip_suffix(']'));
            if let Some((comm, pid)) = task.and_then(|task| task.rsplit_once(':')) {
                identity.task = Some(comm);
                identity.pid = leading_number(pid).map(|(pid, _)| pid);
            }
        }
        Kind::HardLockup => {
            if let Some((_, cpu)) = header.split_once("on cpu ") {
                identity.cpu = leading_number(cpu).map(|(cpu, _)| cpu);
            }
        }
        Kind::HungTask => {
            // "INFO: task rmmod:123 blocked for more than 10 seconds."
            let task = header.strip_prefix("INFO: task ").and_then(|rest| rest.split_once(" blocked for more than "));
            if let Some((comm, pid)) = task.and_then(|(task, _)| task.rsplit_once(':')) {
                identity.task = Some(comm);
                identity.pid = leading_number(pid).map(|(pid, _)| pid);
            }
        }
        Kind::RcuStall => {
            // The stalled CPU: "rcu: \t1-...!: (1233 ticks this GP) ...". The
            // report's other CPU lines are diagnostics (where the grace-period
            // kthread ran, ...): only the stalled CPU's own dump names the
            // culprit.
            identity.cpu = lines.iter().find_map(|line| {
                let stall = line.msg.strip_prefix("rcu: \t")?;
                let (cpu, rest) = leading_number(stall)?;
                rest.starts_with('-').then_some(cpu)
            });
            let dump =
                lines.iter().filter_map(|line| parse_cpu_line(line.msg)).find(|dump| Some(dump.cpu) == identity.cpu);
            if let Some(dump) = dump {
                identity.pid = Some(dump.pid);
                identity.task = dump.comm;
            }
            return identity;
        }
        Kind::Oops | Kind::KernelBug | Kind::Bug | Kind::Ruled(_) | Kind::Ubsan | Kind::Panic | Kind::Lockdep => {}
    }
    let dump = lines.iter().find_map(|line| parse_cpu_line(line.msg));
    if let Some(dump) = dump {
        identity.cpu = identity.cpu.or(Some(dump.cpu));
        identity.pid = identity.pid.or(Some(dump.pid));
        identity.task = identity.task.or(dump.comm);
    } else if identity.task.is_none() {
        // sched_show_task(): "task:rmmod           state:D ... pid:123 ..."
        let task_line = lines.iter().find_map(|line| line.msg.strip_prefix("task:"));
        if let Some((comm, rest)) = task_line.and_then(|task| task.split_once(" state:")) {
            let comm = comm.trim_end();
            identity.task = (!comm.is_empty()).then_some(comm);
            identity.pid = identity.pid.or_else(|| {
                rest.split_once(" pid:").and_then(|(_, pid)| leading_number(pid.trim_start())).map(|(pid, _)| pid)
            });
        }
    }
    identity
}

#[cfg(test)]
mod tests;
