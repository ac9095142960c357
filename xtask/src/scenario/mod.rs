//! The scenario language: one YAML file per scenario in `scenarios/`,
//! parsed into validated types (see `scenarios/README.md` for the language).
//!
//! Parsing is pure and never panics: serde checks shapes (with
//! `deny_unknown_fields`), then the validator checks meaning — one verb per
//! step, modifiers that fit the verb, durations, errno names, modules that
//! exist, handles that were opened — and reports every problem with its
//! file, line and column.

pub mod builtin;
pub mod compile;
pub mod duration;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::diag::{Located, LocatedErrors};
use crate::errno;
use crate::kernel_event::EventClass;
pub use crate::metrics::Metric;
use crate::yaml_loc::YamlIndex;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// What the scenario proves, in a sentence or two.
    pub description: String,
    /// vCPUs when the matrix does not say otherwise.
    pub vcpus: u32,
    /// The whole run's deadline.
    pub deadline: Duration,
    /// Extra guest kernel command-line parameters (e.g.
    /// `rcupdate.rcu_expedited=1`).
    pub cmdline: Vec<String>,
    /// Modules from guests/modules (and the user's module directories) the
    /// scenario loads.
    pub modules: Vec<String>,
    /// The kernel's own modules the scenario loads (built `=m` by the
    /// variant's configs, e.g. kernel-configs/victims.config). Which exist
    /// is known only for a built kernel, so each run checks them against
    /// its variants' kernels before the first boot.
    pub kernel_modules: Vec<String>,
    pub steps: Vec<Step>,
    pub expect: Final,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `in_tree`: one of the kernel's own modules, loaded with its
    /// dependencies.
    Load {
        module: String,
        params: String,
        expect: Vec<Outcome>,
        in_tree: bool,
    },
    Unload {
        module: String,
        force: bool,
        nonblock: bool,
        expect: Vec<Outcome>,
        window: bool,
    },
    Loop {
        bound: LoopBound,
        until_ok: bool,
        steps: Vec<Step>,
    },
    Parallel {
        branches: Vec<Branch>,
    },
    Sleep(Duration),
    Hammer(HammerAction),
    Sampler(SamplerAction),
    Hog(HogAction),
    Open {
        path: String,
        handle: String,
    },
    Close {
        handle: String,
    },
    Read {
        path: String,
        check: ReadCheck,
    },
    Write {
        path: String,
        content: String,
    },
    Shell {
        command: String,
        status: Option<i32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopBound {
    Count(u32),
    Duration(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub cpu: Option<u32>,
    pub steps: Vec<Step>,
}

/// What a load or unload may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// An errno by number (x86-64), named in the file.
    Errno(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cpus {
    All,
    List(Vec<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HammerAction {
    Start { target: String, cpus: Cpus, duration: Option<Duration> },
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamplerAction {
    /// `thread`: also measure wake-up lateness of a real-time thread per
    /// CPU (timerlat's thread mode), which sees CPUs spinning with
    /// interrupts on, e.g. in stop_machine() waiting for a hogged CPU.
    Start {
        period: Duration,
        threshold: Duration,
        thread: bool,
    },
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HogAction {
    Start { cpu: u32, hold: Duration, period: Duration },
    Stop,
}

/// Checks on a file's content; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct ReadCheck {
    pub equals: Option<String>,
    pub contains: Option<String>,
    /// Every line must match this regular expression.
    pub lines: Option<regex::Regex>,
}

impl PartialEq for ReadCheck {
    fn eq(&self, other: &Self) -> bool {
        self.equals == other.equals
            && self.contains == other.contains
            && self.lines.as_ref().map(|r| r.as_str()) == other.lines.as_ref().map(|r| r.as_str())
    }
}

/// Expectations checked after the last step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Final {
    /// Kernel-log event classes that do not fail the run (default: none).
    pub allow: Vec<EventClass>,
    /// `/sys/module/<m>/refcnt` must read this.
    pub refcount: BTreeMap<String, i64>,
    /// These modules must not be loaded.
    pub absent: Vec<String>,
}

// ---- the file as serde sees it -------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    description: String,
    #[serde(default = "default_vcpus")]
    vcpus: u32,
    deadline: String,
    #[serde(default)]
    cmdline: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    kernel_modules: Vec<String>,
    steps: Vec<RawStep>,
    #[serde(default)]
    expect: RawFinal,
    #[serde(default)]
    metrics: Vec<String>,
}

fn default_vcpus() -> u32 {
    2
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFinal {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    refcount: BTreeMap<String, i64>,
    #[serde(default)]
    absent: Vec<String>,
}

/// `expect: ok` or `expect: [ok, EWOULDBLOCK]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(|s| s.as_str()).collect(),
        }
    }
}

/// `cpus: all`, `cpus: 2` (the first two), or `cpus: [0, 3]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCpus {
    Word(String),
    Count(u32),
    List(Vec<u32>),
}

/// A step: exactly one verb key, plus the modifiers that verb takes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStep {
    load: Option<String>,
    unload: Option<String>,
    #[serde(rename = "loop")]
    loop_: Option<RawLoop>,
    parallel: Option<Vec<RawBranch>>,
    sleep: Option<String>,
    hammer: Option<String>,
    sampler: Option<String>,
    hog: Option<String>,
    open: Option<String>,
    close: Option<String>,
    read: Option<String>,
    write: Option<String>,
    shell: Option<String>,

    params: Option<String>,
    expect: Option<OneOrMany>,
    force: Option<bool>,
    nonblock: Option<bool>,
    window: Option<bool>,
    #[serde(rename = "as")]
    as_: Option<String>,
    content: Option<String>,
    equals: Option<String>,
    contains: Option<String>,
    lines: Option<String>,
    target: Option<String>,
    cpus: Option<RawCpus>,
    duration: Option<String>,
    cpu: Option<u32>,
    hold: Option<String>,
    period: Option<String>,
    threshold: Option<String>,
    thread: Option<bool>,
    status: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoop {
    count: Option<u32>,
    duration: Option<String>,
    #[serde(default)]
    until: Option<String>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    cpu: Option<u32>,
    steps: Vec<RawStep>,
}

const VERBS: [&str; 13] = [
    "load", "unload", "loop", "parallel", "sleep", "hammer", "sampler", "hog", "open", "close", "read", "write",
    "shell",
];

// ---- validation ------------------------------------------------------------

/// Modules a scenario may name (names without `.ko`): those `guests/modules`
/// builds, then those of the user's module directories (`--modules`).
pub struct Known<'a> {
    pub modules: &'a [String],
}

/// Parses and validates `text`; every problem is reported with its place.
pub fn parse(file: &Path, text: &str, known: &Known<'_>) -> Result<Scenario, LocatedErrors> {
    let raw: RawScenario =
        serde_yaml::from_str(text).map_err(|e| LocatedErrors(vec![Located::from_serde(file, &e)]))?;
    let mut v = Validator { file, index: YamlIndex::build(text), errors: Vec::new(), handles: BTreeSet::new() };
    let scenario = v.scenario(&raw, known);
    if v.errors.is_empty() {
        Ok(scenario)
    } else {
        Err(LocatedErrors(v.errors))
    }
}

/// The module names in a Kbuild file's `obj-m += x.o` lines.
pub fn kbuild_modules(kbuild: &str) -> Vec<String> {
    kbuild
        .lines()
        .filter_map(|l| l.trim().strip_prefix("obj-m"))
        .filter_map(|rest| {
            let rest = rest.trim_start();
            rest.strip_prefix("+=").or_else(|| rest.strip_prefix(":=")).or_else(|| rest.strip_prefix('='))
        })
        .flat_map(|objs| {
            objs.split_whitespace().filter_map(|o| o.strip_suffix(".o")).map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

struct Validator<'a> {
    file: &'a Path,
    index: YamlIndex,
    errors: Vec<Located>,
    /// Handles opened so far (in file order), for `close:` checks.
    handles: BTreeSet<String>,
}

impl Validator<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(Located::new(self.file, self.index.value(path), message));
    }

    fn key_error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(Located::new(self.file, self.index.key(path), message));
    }

    fn duration(&mut self, path: &str, text: &str) -> Duration {
        duration::parse(text).unwrap_or_else(|message| {
            self.error(path, message);
            Duration::ZERO
        })
    }

    fn scenario(&mut self, raw: &RawScenario, known: &Known<'_>) -> Scenario {
        if !raw.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || raw.name.is_empty() {
            self.error("name", format!("scenario name `{}`: expected lowercase letters, digits and `-`", raw.name));
        }
        if raw.description.trim().len() < 20 {
            self.error("description", "the description must say what the scenario proves (a sentence at least)");
        }
        if !(1..=64).contains(&raw.vcpus) {
            self.error("vcpus", format!("vcpus {}: expected 1 to 64", raw.vcpus));
        }
        let deadline = self.duration("deadline", &raw.deadline);
        for (i, param) in raw.cmdline.iter().enumerate() {
            if param.is_empty() || param.chars().any(|c| c.is_whitespace() || c == '"') {
                self.error(
                    &format!("cmdline[{i}]"),
                    format!("kernel parameter `{param}`: expected one word such as rcupdate.rcu_expedited=1"),
                );
            }
        }
        for (i, module) in raw.modules.iter().enumerate() {
            if !known.modules.contains(module) {
                self.error(
                    &format!("modules[{i}]"),
                    format!(
                        "unknown module `{module}`: guests/modules and the module directories given (`--modules`, \
                         a matrix file's `modules:`) build {} (the kernel's own modules, such as null_blk, go in \
                         `kernel_modules:`)",
                        known.modules.join(", ")
                    ),
                );
            }
        }
        for (i, module) in raw.kernel_modules.iter().enumerate() {
            let path = format!("kernel_modules[{i}]");
            if module.is_empty() || !module.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                self.error(&path, format!("kernel module `{module}`: expected a module name such as null_blk"));
            } else if raw.modules.contains(module) {
                self.error(
                    &path,
                    format!("`{module}` is in both `modules:` and `kernel_modules:`: the guest would have two of it"),
                );
            }
        }
        if raw.steps.is_empty() {
            self.error("steps", "`steps` is empty: expected at least one step");
        }
        let steps = self.steps("steps", &raw.steps, raw, 0);
        let expect = self.final_expect(&raw.expect, raw);
        let mut metrics = Vec::new();
        for (i, name) in raw.metrics.iter().enumerate() {
            match Metric::declared(name) {
                Some(metric) => metrics.push(metric),
                None => self.error(
                    &format!("metrics[{i}]"),
                    format!("unknown metric `{name}`: expected one of {}", Metric::declarable_names().join(", ")),
                ),
            }
        }
        Scenario {
            name: raw.name.clone(),
            description: raw.description.trim().to_string(),
            vcpus: raw.vcpus,
            deadline,
            cmdline: raw.cmdline.clone(),
            modules: raw.modules.clone(),
            kernel_modules: raw.kernel_modules.clone(),
            steps,
            expect,
            metrics,
        }
    }

    fn steps(&mut self, path: &str, raw: &[RawStep], scenario: &RawScenario, depth: usize) -> Vec<Step> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, step)| self.step(&format!("{path}[{i}]"), step, scenario, depth))
            .collect()
    }

    fn module(&mut self, path: &str, module: &str, scenario: &RawScenario) {
        if !scenario.modules.iter().chain(&scenario.kernel_modules).any(|m| m == module) {
            self.error(
                path,
                format!(
                    "module `{module}` is not listed at the top of the scenario: in `modules:` (the stress modules, \
                     yours) or `kernel_modules:` (the kernel's own)"
                ),
            );
        }
    }

    fn outcomes(&mut self, path: &str, expect: &Option<OneOrMany>) -> Vec<Outcome> {
        let Some(expect) = expect else { return vec![Outcome::Ok] };
        if expect.items().is_empty() {
            self.error(path, "`expect` is empty: expected `ok` or errno names");
            return vec![Outcome::Ok];
        }
        let mut outcomes = Vec::new();
        for item in expect.items() {
            if item == "ok" {
                outcomes.push(Outcome::Ok);
            } else if let Some(n) = errno::number(item) {
                outcomes.push(Outcome::Errno(n));
            } else {
                self.error(
                    path,
                    format!("unknown outcome `{item}`: expected `ok` or an errno name such as EBUSY, EWOULDBLOCK, ENOENT, EPERM, EEXIST"),
                );
            }
        }
        outcomes
    }

    fn step(&mut self, path: &str, raw: &RawStep, scenario: &RawScenario, depth: usize) -> Option<Step> {
        let verb = self.verb(path, raw)?;
        self.check_modifiers(path, raw, verb);
        // The stress verbs drive a module, which the scenario must list.
        if let Some((_, module)) = STRESS_MODULES.iter().find(|(v, _)| *v == verb) {
            self.module(&at(path, verb), module, scenario);
        }
        let step = match verb {
            "load" => self.load(path, raw, scenario),
            "unload" => self.unload(path, raw, scenario),
            "loop" => self.loop_(path, raw.loop_.as_ref()?, scenario, depth)?,
            "parallel" => self.parallel(path, raw.parallel.as_ref()?, scenario, depth)?,
            "sleep" => Step::Sleep(self.duration(&at(path, "sleep"), raw.sleep.as_deref().unwrap_or(""))),
            "hammer" => Step::Hammer(self.hammer(path, raw, scenario)),
            "sampler" => Step::Sampler(self.sampler(path, raw)),
            "hog" => Step::Hog(self.hog(path, raw, scenario)),
            "open" => self.open(path, raw),
            "close" => self.close(path, raw),
            "read" => self.read(path, raw),
            "write" => self.write(path, raw),
            "shell" => Step::Shell { command: raw.shell.clone().unwrap_or_default(), status: raw.status },
            _ => unreachable!("VERBS and this match list the same verbs"),
        };
        Some(step)
    }

    /// The step's one verb; none or several is an error.
    fn verb(&mut self, path: &str, raw: &RawStep) -> Option<&'static str> {
        let present: Vec<&'static str> = VERBS.iter().copied().filter(|v| verb_present(raw, v)).collect();
        match present.as_slice() {
            [one] => Some(*one),
            [] => {
                self.error(path, format!("a step needs one verb: one of {}", VERBS.join(", ")));
                None
            }
            [_, second, ..] => {
                self.key_error(
                    &at(path, second),
                    format!(
                        "a step has one verb, this one has {}: split it into separate steps",
                        present.join(" and ")
                    ),
                );
                None
            }
        }
    }

    fn check_modifiers(&mut self, path: &str, raw: &RawStep, verb: &str) {
        for (modifier, allowed_with) in MODIFIERS {
            if modifier_present(raw, modifier) && !allowed_with.contains(&verb) {
                self.key_error(
                    &at(path, modifier),
                    format!("`{modifier}` does not go with `{verb}` (it goes with: {})", allowed_with.join(", ")),
                );
            }
        }
    }

    fn load(&mut self, path: &str, raw: &RawStep, scenario: &RawScenario) -> Step {
        let module = raw.load.clone().unwrap_or_default();
        self.module(&at(path, "load"), &module, scenario);
        Step::Load {
            in_tree: scenario.kernel_modules.contains(&module),
            module,
            params: raw.params.clone().unwrap_or_default(),
            expect: self.outcomes(&at(path, "expect"), &raw.expect),
        }
    }

    fn unload(&mut self, path: &str, raw: &RawStep, scenario: &RawScenario) -> Step {
        let module = raw.unload.clone().unwrap_or_default();
        self.module(&at(path, "unload"), &module, scenario);
        Step::Unload {
            module,
            force: raw.force.unwrap_or(false),
            nonblock: raw.nonblock.unwrap_or(false),
            expect: self.outcomes(&at(path, "expect"), &raw.expect),
            window: raw.window.unwrap_or(false),
        }
    }

    fn loop_(&mut self, path: &str, l: &RawLoop, scenario: &RawScenario, depth: usize) -> Option<Step> {
        let bound = match (&l.count, &l.duration) {
            (Some(n), None) if *n > 0 => LoopBound::Count(*n),
            (None, Some(d)) => LoopBound::Duration(self.duration(&at(path, "loop.duration"), d)),
            _ => {
                self.error(&at(path, "loop"), "a loop needs exactly one of `count: N` (N > 0) or `duration: 10s`");
                LoopBound::Count(1)
            }
        };
        let until_ok = match l.until.as_deref() {
            None => false,
            Some("ok") => true,
            Some(other) => {
                self.error(
                    &at(path, "loop.until"),
                    format!("`until: {other}`: the only condition is `until: ok` (stop when the body's last unload succeeds)"),
                );
                false
            }
        };
        if l.steps.is_empty() {
            self.error(&at(path, "loop.steps"), "a loop needs at least one step");
        }
        if depth >= MAX_DEPTH {
            self.error(&at(path, "loop"), format!("steps are nested more than {MAX_DEPTH} deep"));
            return None;
        }
        Some(Step::Loop { bound, until_ok, steps: self.steps(&at(path, "loop.steps"), &l.steps, scenario, depth + 1) })
    }

    fn parallel(&mut self, path: &str, branches: &[RawBranch], scenario: &RawScenario, depth: usize) -> Option<Step> {
        // One branch is allowed: it pins its steps to a CPU.
        if branches.is_empty() {
            self.error(&at(path, "parallel"), "a parallel group needs at least one branch");
        }
        if depth >= MAX_DEPTH {
            self.error(&at(path, "parallel"), format!("steps are nested more than {MAX_DEPTH} deep"));
            return None;
        }
        let mut out = Vec::new();
        for (b, branch) in branches.iter().enumerate() {
            let bpath = format!("{path}.parallel[{b}]");
            if let Some(cpu) = branch.cpu {
                if cpu >= scenario.vcpus {
                    self.error(
                        &format!("{bpath}.cpu"),
                        format!("cpu {cpu} does not exist with vcpus: {} (CPUs are numbered from 0)", scenario.vcpus),
                    );
                }
            }
            let steps = self.steps(&format!("{bpath}.steps"), &branch.steps, scenario, depth + 1);
            out.push(Branch { cpu: branch.cpu, steps });
        }
        Some(Step::Parallel { branches: out })
    }

    fn hammer(&mut self, path: &str, raw: &RawStep, scenario: &RawScenario) -> HammerAction {
        match self.action(&at(path, "hammer"), raw.hammer.as_deref()) {
            Some(true) => {
                let target = raw.target.clone().unwrap_or_else(|| "self".to_string());
                if target != "self" {
                    self.module(&at(path, "target"), &target, scenario);
                }
                let cpus = self.cpus(&at(path, "cpus"), raw.cpus.as_ref(), scenario.vcpus);
                let duration = raw.duration.as_deref().map(|d| self.duration(&at(path, "duration"), d));
                HammerAction::Start { target, cpus, duration }
            }
            _ => HammerAction::Stop,
        }
    }

    fn sampler(&mut self, path: &str, raw: &RawStep) -> SamplerAction {
        match self.action(&at(path, "sampler"), raw.sampler.as_deref()) {
            Some(true) => SamplerAction::Start {
                period: self.duration_or(&at(path, "period"), raw.period.as_deref(), Duration::from_micros(200)),
                threshold: self.duration_or(&at(path, "threshold"), raw.threshold.as_deref(), Duration::from_millis(1)),
                thread: raw.thread.unwrap_or(false),
            },
            _ => SamplerAction::Stop,
        }
    }

    fn hog(&mut self, path: &str, raw: &RawStep, scenario: &RawScenario) -> HogAction {
        match self.action(&at(path, "hog"), raw.hog.as_deref()) {
            Some(true) => {
                let cpu = raw.cpu.unwrap_or(0);
                if cpu >= scenario.vcpus {
                    self.error(&at(path, "cpu"), format!("cpu {cpu} does not exist with vcpus: {}", scenario.vcpus));
                }
                HogAction::Start {
                    cpu,
                    hold: self.duration_or(&at(path, "hold"), raw.hold.as_deref(), Duration::from_millis(5)),
                    period: self.duration_or(&at(path, "period"), raw.period.as_deref(), Duration::from_millis(50)),
                }
            }
            _ => HogAction::Stop,
        }
    }

    fn open(&mut self, path: &str, raw: &RawStep) -> Step {
        let handle = raw.as_.clone().unwrap_or_else(|| "file".to_string());
        if !self.handles.insert(handle.clone()) {
            self.error(
                &at(path, "as"),
                format!("handle `{handle}` is already open: close it first or pick another name"),
            );
        }
        Step::Open { path: raw.open.clone().unwrap_or_default(), handle }
    }

    fn close(&mut self, path: &str, raw: &RawStep) -> Step {
        let handle = raw.close.clone().unwrap_or_default();
        if !self.handles.remove(&handle) {
            self.error(
                &at(path, "close"),
                format!("no open handle named `{handle}` (open one with `open: PATH` and `as: {handle}`)"),
            );
        }
        Step::Close { handle }
    }

    fn read(&mut self, path: &str, raw: &RawStep) -> Step {
        let lines = raw.lines.as_deref().and_then(|re| match regex::Regex::new(re) {
            Ok(re) => Some(re),
            Err(e) => {
                // regex's message spans lines (pattern, caret, error);
                // its last line says what is wrong.
                let text = e.to_string();
                let why = text.lines().last().unwrap_or("").trim_start_matches("error: ").to_string();
                self.error(&at(path, "lines"), format!("`lines` is not a valid regular expression: {why}"));
                None
            }
        });
        Step::Read {
            path: raw.read.clone().unwrap_or_default(),
            check: ReadCheck { equals: raw.equals.clone(), contains: raw.contains.clone(), lines },
        }
    }

    fn write(&mut self, path: &str, raw: &RawStep) -> Step {
        if raw.content.is_none() {
            self.error(path, "`write` needs `content:`");
        }
        Step::Write { path: raw.write.clone().unwrap_or_default(), content: raw.content.clone().unwrap_or_default() }
    }

    /// `start` -> Some(true), `stop` -> Some(false), else an error.
    fn action(&mut self, path: &str, word: Option<&str>) -> Option<bool> {
        match word {
            Some("start") => Some(true),
            Some("stop") => Some(false),
            other => {
                self.error(path, format!("expected `start` or `stop`, found `{}`", other.unwrap_or("")));
                None
            }
        }
    }

    fn duration_or(&mut self, path: &str, text: Option<&str>, default: Duration) -> Duration {
        text.map(|t| self.duration(path, t)).unwrap_or(default)
    }

    fn cpus(&mut self, path: &str, raw: Option<&RawCpus>, vcpus: u32) -> Cpus {
        match raw {
            None => Cpus::All,
            Some(RawCpus::Word(w)) if w == "all" => Cpus::All,
            Some(RawCpus::Word(w)) => {
                self.error(path, format!("cpus `{w}`: expected `all`, a count, or a list such as [0, 1]"));
                Cpus::All
            }
            Some(RawCpus::Count(n)) => {
                if *n == 0 || *n > vcpus {
                    self.error(path, format!("cpus {n}: expected 1 to {vcpus} (the scenario's vcpus)"));
                }
                Cpus::List((0..*n).collect())
            }
            Some(RawCpus::List(list)) => {
                if let Some(bad) = list.iter().find(|c| **c >= vcpus) {
                    self.error(path, format!("cpu {bad} does not exist with vcpus: {vcpus}"));
                }
                Cpus::List(list.clone())
            }
        }
    }

    fn final_expect(&mut self, raw: &RawFinal, scenario: &RawScenario) -> Final {
        let mut allow = Vec::new();
        for (i, name) in raw.allow.iter().enumerate() {
            match EventClass::ALL.iter().find(|c| c.name() == name) {
                Some(class) => allow.push(*class),
                None => self.error(
                    &format!("expect.allow[{i}]"),
                    format!(
                        "unknown kernel-log event class `{name}`: expected one of {}",
                        EventClass::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
        for module in raw.refcount.keys() {
            self.module(&format!("expect.refcount.{module}"), module, scenario);
        }
        for (i, module) in raw.absent.iter().enumerate() {
            self.module(&format!("expect.absent[{i}]"), module, scenario);
        }
        Final { allow, refcount: raw.refcount.clone(), absent: raw.absent.clone() }
    }
}

/// The deepest loops and parallel groups may nest.
const MAX_DEPTH: usize = 8;

/// The YAML path of `key` in the step at `path`.
fn at(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// The module each stress verb drives.
pub const STRESS_MODULES: [(&str, &str); 3] =
    [("sampler", "stall_sampler"), ("hammer", "refcount_hammer"), ("hog", "hog")];

/// Which verbs each modifier goes with.
const MODIFIERS: [(&str, &[&str]); 19] = [
    ("params", &["load"]),
    ("expect", &["load", "unload"]),
    ("force", &["unload"]),
    ("nonblock", &["unload"]),
    ("window", &["unload"]),
    ("as", &["open"]),
    ("content", &["write"]),
    ("equals", &["read"]),
    ("contains", &["read"]),
    ("lines", &["read"]),
    ("target", &["hammer"]),
    ("cpus", &["hammer"]),
    ("duration", &["hammer"]),
    ("cpu", &["hog"]),
    ("hold", &["hog"]),
    ("period", &["hog", "sampler"]),
    ("threshold", &["sampler"]),
    ("thread", &["sampler"]),
    ("status", &["shell"]),
];

fn verb_present(raw: &RawStep, verb: &str) -> bool {
    match verb {
        "load" => raw.load.is_some(),
        "unload" => raw.unload.is_some(),
        "loop" => raw.loop_.is_some(),
        "parallel" => raw.parallel.is_some(),
        "sleep" => raw.sleep.is_some(),
        "hammer" => raw.hammer.is_some(),
        "sampler" => raw.sampler.is_some(),
        "hog" => raw.hog.is_some(),
        "open" => raw.open.is_some(),
        "close" => raw.close.is_some(),
        "read" => raw.read.is_some(),
        "write" => raw.write.is_some(),
        "shell" => raw.shell.is_some(),
        _ => false,
    }
}

fn modifier_present(raw: &RawStep, modifier: &str) -> bool {
    match modifier {
        "params" => raw.params.is_some(),
        "expect" => raw.expect.is_some(),
        "force" => raw.force.is_some(),
        "nonblock" => raw.nonblock.is_some(),
        "window" => raw.window.is_some(),
        "as" => raw.as_.is_some(),
        "content" => raw.content.is_some(),
        "equals" => raw.equals.is_some(),
        "contains" => raw.contains.is_some(),
        "lines" => raw.lines.is_some(),
        "target" => raw.target.is_some(),
        "cpus" => raw.cpus.is_some(),
        "duration" => raw.duration.is_some(),
        "cpu" => raw.cpu.is_some(),
        "hold" => raw.hold.is_some(),
        "period" => raw.period.is_some(),
        "threshold" => raw.threshold.is_some(),
        "thread" => raw.thread.is_some(),
        "status" => raw.status.is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
