//! The matrix file: which kernel variants exist, which of them is the
//! baseline and which the candidate, and which scenarios, vCPU counts and
//! repetitions `cargo xtask matrix` runs against them, with the thresholds
//! and expected changes of the diff.
//!
//! Parsing is pure: text in, validated [`Matrix`] or located errors out. The
//! only outside fact it needs, whether a path exists, comes in as a closure so
//! tests can supply it.

pub mod plan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diag::{Located, LocatedErrors};
use crate::diff_config::{Claim, DiffConfig, ExpectedChange, Thresholds};
use crate::metrics::Metric;
use crate::variant;
pub use crate::variant::{Source, Variant};
use crate::yaml_loc::YamlIndex;

/// A validated matrix file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub file: PathBuf,
    pub variants: Vec<Variant>,
    /// The variant the candidate is compared with (default: the first).
    pub baseline: Option<String>,
    /// The variant under test (default: the second).
    pub candidate: Option<String>,
    /// Scenario files, in the order given.
    pub scenarios: Vec<PathBuf>,
    /// Per scenario (same order): boots per side when the file gives the
    /// scenario its own `repetitions`, else `None` (the matrix's).
    pub scenario_repetitions: Vec<Option<u32>>,
    /// vCPU counts every scenario runs with (default: `[2]`).
    pub vcpus: Vec<u32>,
    /// Boots per variant × scenario × vCPUs: the unit the statistics count.
    pub repetitions: u32,
    /// The user's own out-of-tree module directories (`modules:`), built
    /// with `make M=` against every variant beside the stress modules.
    pub module_dirs: Vec<PathBuf>,
    pub diff: DiffConfig,
}

/// vCPU counts a guest may have: enough for the rig's 4-CPU scenarios on
/// big hosts, few enough that a typo (`vcpus: [40]`) is caught.
const MAX_VCPUS: u32 = 64;

impl Matrix {
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The named variants in the order asked, or all of them when none are
    /// named; an unknown name is an error that lists the known ones.
    pub fn select(&self, names: &[String]) -> anyhow::Result<Vec<&Variant>> {
        if names.is_empty() {
            return Ok(self.variants.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.variant(name).ok_or_else(|| {
                    let known: Vec<&str> = self.variants.iter().map(|v| v.name.as_str()).collect();
                    anyhow::anyhow!(
                        "no variant named `{name}` in {}; known variants: {}",
                        self.file.display(),
                        known.join(", ")
                    )
                })
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    variants: Vec<RawVariant>,
    #[serde(default)]
    baseline: Option<String>,
    #[serde(default)]
    candidate: Option<String>,
    #[serde(default)]
    scenarios: Vec<RawScenario>,
    #[serde(default = "default_vcpus")]
    vcpus: Vec<u32>,
    #[serde(default = "default_repetitions")]
    repetitions: u32,
    #[serde(default)]
    thresholds: Thresholds,
    #[serde(default)]
    expected_changes: Vec<ExpectedChange>,
    #[serde(default)]
    gate: Option<Vec<String>>,
    #[serde(default)]
    claims: Vec<Claim>,
    #[serde(default)]
    modules: Vec<String>,
}

/// A scenario of the matrix: a name or path, optionally with its own
/// number of boots per side (a correctness scenario that needs fewer boots
/// than the timing ones).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawScenario {
    Name(String),
    WithRepetitions(RawScenarioRepetitions),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenarioRepetitions {
    scenario: String,
    repetitions: u32,
}

impl RawScenario {
    fn name(&self) -> &str {
        match self {
            RawScenario::Name(name) => name,
            RawScenario::WithRepetitions(r) => &r.scenario,
        }
    }

    fn repetitions(&self) -> Option<u32> {
        match self {
            RawScenario::Name(_) => None,
            RawScenario::WithRepetitions(r) => Some(r.repetitions),
        }
    }
}

fn default_vcpus() -> Vec<u32> {
    vec![2]
}

/// Boots per side when a matrix file does not say: the fewest with which
/// the rank test of per-boot medians can reach p < 0.01 (2/C(12,6) = 0.002)
/// and survive a Holm correction over a handful of gated comparisons.
pub const DEFAULT_REPETITIONS: u32 = 6;

fn default_repetitions() -> u32 {
    DEFAULT_REPETITIONS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: Option<RawSource>,
    #[serde(default)]
    patches: Vec<String>,
    #[serde(default = "default_configs")]
    configs: Vec<String>,
}

/// A variant without `configs:`: the booting kernel and the real drivers
/// the shipped scenarios load (`kernel_modules:`).
fn default_configs() -> Vec<String> {
    vec!["base".to_string(), "victims".to_string()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    tarball: Option<String>,
    dir: Option<String>,
    git: Option<String>,
    /// A Debian kernel source package, `linux-source-<version>`.
    debian: Option<String>,
    #[serde(rename = "ref")]
    rev: Option<String>,
}

/// Where relative paths in a matrix file point and which fragments exist.
pub struct Context<'a> {
    /// Relative paths in the file are relative to this directory (the file's own).
    pub base_dir: &'a Path,
    /// Bare fragment names (`base`) resolve to `<configs_dir>/<name>.config`.
    pub configs_dir: &'a Path,
    /// Bare scenario names (`unload-noise`) not found next to the file
    /// resolve to the shipped `<scenarios_dir>/<name>.yaml`, so that a
    /// matrix of the user's own, anywhere, can name them.
    pub scenarios_dir: &'a Path,
    /// The user's home directory, for paths written `~/...`.
    pub home: Option<&'a Path>,
    pub exists: &'a dyn Fn(&Path) -> bool,
}

/// Whether YAML `text` has a top-level `variants:` key, as every matrix
/// does and no scenario may.
pub fn has_variants_key(text: &str) -> bool {
    text.lines().any(|line| line.strip_prefix("variants:").is_some())
}

/// Parses and validates matrix text. Every problem found is reported with its
/// position, not just the first.
pub fn parse(file: &Path, text: &str, cx: &Context<'_>) -> Result<Matrix, LocatedErrors> {
    let raw: RawMatrix = serde_yaml::from_str(text).map_err(|e| LocatedErrors(vec![Located::from_serde(file, &e)]))?;
    let mut check = Checker { file, index: YamlIndex::build(text), cx, errors: Vec::new() };
    let variants = check.variants(&raw.variants);
    check.sides(&raw);
    let (scenarios, scenario_repetitions) = check.scenarios(&raw.scenarios);
    check.vcpus_and_repetitions(&raw);
    check.thresholds(&raw.thresholds);
    check.expected_changes(&raw.expected_changes);
    check.gate(raw.gate.as_deref().unwrap_or_default());
    check.claims(&raw);
    let module_dirs = check.module_dirs(&raw.modules);
    if !check.errors.is_empty() {
        return Err(LocatedErrors(check.errors));
    }
    Ok(Matrix {
        file: file.to_path_buf(),
        variants,
        baseline: raw.baseline,
        candidate: raw.candidate,
        scenarios,
        scenario_repetitions,
        vcpus: raw.vcpus,
        repetitions: raw.repetitions,
        module_dirs,
        diff: DiffConfig {
            thresholds: raw.thresholds,
            expected: raw.expected_changes,
            gate: raw.gate,
            claims: raw.claims,
        },
    })
}

/// Validates the parts of a raw matrix file, collecting located errors.
struct Checker<'a> {
    file: &'a Path,
    index: YamlIndex,
    cx: &'a Context<'a>,
    errors: Vec<Located>,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: String) {
        self.errors.push(Located::new(self.file, self.index.value(path), message));
    }

    /// The valid variants (one whose source is wrong is left out; its
    /// error says why).
    fn variants(&mut self, raw: &[RawVariant]) -> Vec<Variant> {
        if raw.is_empty() {
            self.error("variants", "`variants` is empty: expected at least one variant".to_string());
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut variants = Vec::new();
        for (i, rv) in raw.iter().enumerate() {
            let at = |field: &str| format!("variants[{i}].{field}");
            if !valid_name(&rv.name) {
                self.error(
                    &at("name"),
                    format!(
                        "variant name `{}` is not allowed: expected 1-64 characters from a-z, 0-9, `-`, `_`, `.` (it names directories)",
                        rv.name
                    ),
                );
            }
            if let Some(first) = seen.insert(&rv.name, i) {
                self.error(
                    &at("name"),
                    format!("duplicate variant name `{}` (first used by variants[{first}])", rv.name),
                );
            }
            let source = self.source(&at("source"), rv.source.as_ref());
            let patches = self.patches(i, &rv.patches);
            let configs = self.configs(i, &rv.configs);
            if let Some(source) = source {
                variants.push(Variant {
                    name: rv.name.clone(),
                    description: rv.description.trim().to_string(),
                    source,
                    patches,
                    configs,
                });
            }
        }
        variants
    }

    /// A variant's source (absent: the default, Debian's linux-source-6.12), if it is valid.
    fn source(&mut self, path: &str, raw: Option<&RawSource>) -> Option<Source> {
        let base = self.cx.base_dir;
        let source = match raw {
            None => Some(Source::default_source()),
            Some(src) => match (&src.tarball, &src.dir, &src.git, &src.rev, &src.debian) {
                (Some(t), None, None, None, None) => Some(Source::Tarball(resolve(base, self.cx.home, t))),
                (None, Some(d), None, None, None) => Some(Source::Dir(resolve(base, self.cx.home, d))),
                (None, None, Some(g), Some(r), None) if !r.trim().is_empty() => {
                    Some(Source::Git { repo: resolve(base, self.cx.home, g), rev: r.clone() })
                }
                (None, None, None, None, Some(package)) => {
                    let version = package.strip_prefix("linux-source-").unwrap_or_default();
                    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                        self.error(
                            &format!("{path}.debian"),
                            format!(
                                "`{package}` is not a Debian kernel source package: expected linux-source-<version>, \
                                 e.g. linux-source-6.1, linux-source-6.12 or linux-source-7.2"
                            ),
                        );
                        None
                    } else {
                        Some(Source::Debian { package: package.clone() })
                    }
                }
                (None, None, Some(_), _, None) => {
                    self.error(path, "a git source needs `ref:` (a branch, tag or commit)".to_string());
                    None
                }
                _ => {
                    self.error(
                        path,
                        "expected exactly one of `tarball: PATH`, `dir: PATH`, `git: PATH` with `ref: REV`, or \
                         `debian: linux-source-<version>`"
                            .to_string(),
                    );
                    None
                }
            },
        };
        if let Some(Source::Tarball(p) | Source::Dir(p) | Source::Git { repo: p, .. }) = &source {
            if !(self.cx.exists)(p) {
                self.error(path, format!("source path {} does not exist", p.display()));
            }
        }
        source
    }

    fn patches(&mut self, variant: usize, raw: &[String]) -> Vec<PathBuf> {
        let mut patches = Vec::new();
        for (j, patch) in raw.iter().enumerate() {
            let path = resolve(self.cx.base_dir, self.cx.home, patch);
            if !(self.cx.exists)(&path) {
                self.error(
                    &format!("variants[{variant}].patches[{j}]"),
                    format!("patch input {} does not exist (expected a patch/mbox file, a quilt series file, or a directory)", path.display()),
                );
            }
            patches.push(path);
        }
        patches
    }

    fn configs(&mut self, variant: usize, raw: &[String]) -> Vec<PathBuf> {
        if raw.is_empty() {
            self.error(
                &format!("variants[{variant}].configs"),
                "`configs` is empty: expected at least one Kconfig fragment, e.g. [base]".to_string(),
            );
        }
        let mut configs = Vec::new();
        for (j, name) in raw.iter().enumerate() {
            // A path is relative to the matrix file.
            let path = variant::fragment_path(name, self.cx.configs_dir, self.cx.base_dir);
            if !(self.cx.exists)(&path) {
                self.error(
                    &format!("variants[{variant}].configs[{j}]"),
                    format!(
                        "Kconfig fragment `{name}` not found at {} (expected a name from kernel-configs/ such as `base`, or a path to a .config fragment)",
                        path.display()
                    ),
                );
            }
            configs.push(path);
        }
        configs
    }

    /// `baseline:` and `candidate:` name two different variants.
    fn sides(&mut self, raw: &RawMatrix) {
        for (field, name) in [("baseline", &raw.baseline), ("candidate", &raw.candidate)] {
            if let Some(name) = name {
                if !raw.variants.iter().any(|v| &v.name == name) {
                    self.error(field, format!("`{field}: {name}` names no variant of this file"));
                }
            }
        }
        if raw.baseline.is_some() && raw.baseline == raw.candidate {
            self.error("candidate", "the candidate must be a different variant from the baseline".to_string());
        }
    }

    /// The user's module directories, each one a Kbuild directory
    /// (`Kbuild` or `Makefile` with `obj-m`).
    fn module_dirs(&mut self, raw: &[String]) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for (i, dir) in raw.iter().enumerate() {
            let path = resolve(self.cx.base_dir, self.cx.home, dir);
            let kbuild = ["Kbuild", "Makefile"].iter().any(|f| (self.cx.exists)(&path.join(f)));
            if !kbuild {
                self.error(
                    &format!("modules[{i}]"),
                    format!(
                        "module directory {} has no Kbuild or Makefile (expected an out-of-tree module directory \
                         that `make M=` builds, with `obj-m += NAME.o`)",
                        path.display()
                    ),
                );
            }
            dirs.push(path);
        }
        dirs
    }

    /// The scenario files and each one's own repetitions.
    fn scenarios(&mut self, raw: &[RawScenario]) -> (Vec<PathBuf>, Vec<Option<u32>>) {
        let mut scenarios = Vec::new();
        let mut repetitions = Vec::new();
        for (i, entry) in raw.iter().enumerate() {
            let name = entry.name();
            if entry.repetitions() == Some(0) {
                self.error(
                    &format!("scenarios[{i}].repetitions"),
                    "`repetitions` is 0: expected at least 1".to_string(),
                );
            }
            repetitions.push(entry.repetitions());
            let beside = scenario_path(self.cx.base_dir, name);
            let shipped = is_bare(name).then(|| scenario_path(self.cx.scenarios_dir, name));
            let path = match shipped {
                Some(shipped) if !(self.cx.exists)(&beside) && (self.cx.exists)(&shipped) => shipped,
                _ => beside,
            };
            if !(self.cx.exists)(&path) {
                let places = match is_bare(name) {
                    true => format!("{} or {}", path.display(), scenario_path(self.cx.scenarios_dir, name).display()),
                    false => path.display().to_string(),
                };
                self.error(
                    &format!("scenarios[{i}]"),
                    format!(
                        "scenario `{name}` not found at {places} (expected a scenario name next to the matrix file \
                         or among the shipped scenarios, or a path to a .yaml file)"
                    ),
                );
            }
            scenarios.push(path);
        }
        (scenarios, repetitions)
    }

    fn vcpus_and_repetitions(&mut self, raw: &RawMatrix) {
        if raw.vcpus.is_empty() {
            self.error("vcpus", "`vcpus` is empty: expected a list of vCPU counts, e.g. [2, 4]".to_string());
        }
        for (i, &n) in raw.vcpus.iter().enumerate() {
            if n == 0 || n > MAX_VCPUS {
                self.error(&format!("vcpus[{i}]"), format!("{n} vCPUs: expected 1 to {MAX_VCPUS}"));
            }
        }
        if raw.repetitions == 0 {
            self.error("repetitions", "`repetitions` is 0: expected at least 1".to_string());
        }
    }

    fn thresholds(&mut self, th: &Thresholds) {
        if !(th.alpha > 0.0 && th.alpha < 1.0) {
            self.error(
                "thresholds.alpha",
                format!("alpha {}: expected a significance level between 0 and 1", th.alpha),
            );
        }
        if th.min_effect.is_nan() || th.min_effect < 0.0 {
            self.error(
                "thresholds.min_effect",
                format!("min_effect {}: expected a relative change >= 0 (0.10 = 10 %)", th.min_effect),
            );
        }
        if th.min_boots < 2 {
            self.error(
                "thresholds.min_boots",
                format!("min_boots {}: expected at least 2 (a spread needs two boots)", th.min_boots),
            );
        }
        if th.max_host_load.is_nan() || th.max_host_load < 0.0 {
            self.error(
                "thresholds.max_host_load",
                format!("max_host_load {}: expected host cores >= 0 (0.25 = a quarter of one core)", th.max_host_load),
            );
        }
    }

    /// `metric` is one the diff compares.
    fn compared_metric(&mut self, path: &str, metric: &str) {
        let known = Metric::compared_names();
        if !known.contains(&metric) {
            self.error(path, format!("unknown metric `{metric}`: expected one of {}", known.join(", ")));
        }
    }

    fn expected_changes(&mut self, raw: &[ExpectedChange]) {
        for (i, e) in raw.iter().enumerate() {
            self.compared_metric(&format!("expected_changes[{i}].metric"), &e.metric);
            if e.why.trim().is_empty() {
                self.error(
                    &format!("expected_changes[{i}].why"),
                    "`why` is empty: say why this change is expected".to_string(),
                );
            }
        }
    }

    fn gate(&mut self, metrics: &[String]) {
        for (i, metric) in metrics.iter().enumerate() {
            self.compared_metric(&format!("gate[{i}]"), metric);
        }
    }

    /// Each claim names a compared metric, and scenarios and vCPU counts of
    /// this matrix.
    fn claims(&mut self, raw: &RawMatrix) {
        let names: Vec<String> = raw
            .scenarios
            .iter()
            .map(|s| {
                let stem = Path::new(s.name()).file_stem().map(|f| f.to_string_lossy().into_owned());
                stem.unwrap_or_else(|| s.name().to_string())
            })
            .collect();
        for (i, claim) in raw.claims.iter().enumerate() {
            self.compared_metric(&format!("claims[{i}].metric"), &claim.metric);
            if claim.says.trim().is_empty() {
                self.error(&format!("claims[{i}].says"), "`says` is empty: state the claim in a sentence".to_string());
            }
            for (j, scenario) in claim.scenarios.iter().enumerate() {
                if !names.contains(scenario) {
                    self.error(
                        &format!("claims[{i}].scenarios[{j}]"),
                        format!("scenario `{scenario}` is not in this matrix's `scenarios` ({})", names.join(", ")),
                    );
                }
            }
            for (j, n) in claim.vcpus.iter().enumerate() {
                if !raw.vcpus.contains(n) {
                    self.error(
                        &format!("claims[{i}].vcpus[{j}]"),
                        format!("{n} vCPUs is not among this matrix's `vcpus` {:?}", raw.vcpus),
                    );
                }
            }
        }
    }
}

/// A bare name is `<name>.yaml` next to the matrix file; anything with a
/// slash or a `.yaml` suffix is a path relative to it.
fn scenario_path(base: &Path, name: &str) -> PathBuf {
    if is_bare(name) {
        base.join(format!("{name}.yaml"))
    } else {
        resolve(base, None, name)
    }
}

/// A scenario named without a directory or `.yaml` (`unload-noise`).
fn is_bare(name: &str) -> bool {
    !name.contains('/') && !name.ends_with(".yaml")
}

/// A path of the file: `~/x` in `home`, an absolute one as it is, any other
/// relative to `base` (the file's directory).
fn resolve(base: &Path, home: Option<&Path>, path: &str) -> PathBuf {
    if let (Some(rest), Some(home)) = (path.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests;
