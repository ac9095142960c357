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
use crate::diff::{Claim, DiffConfig, ExpectedChange};
use crate::metrics::Metric;
use crate::project;
use crate::stats::Thresholds;
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
    /// vCPU counts every scenario runs with (default: [2]).
    pub vcpus: Vec<u32>,
    /// Boots per variant × scenario × vCPUs: the unit the statistics count.
    pub repetitions: u32,
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

fn default_configs() -> Vec<String> {
    vec!["base".to_string()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    tarball: Option<String>,
    dir: Option<String>,
    git: Option<String>,
    #[serde(rename = "ref")]
    rev: Option<String>,
}

/// Where relative paths in a matrix file point and which fragments exist.
pub struct Context<'a> {
    /// Relative paths in the file are relative to this directory (the file's own).
    pub base_dir: &'a Path,
    /// Bare fragment names (`base`) resolve to `<configs_dir>/<name>.config`.
    pub configs_dir: &'a Path,
    pub exists: &'a dyn Fn(&Path) -> bool,
}

/// Reads and validates a matrix file from disk.
pub fn load(file: &Path) -> anyhow::Result<Matrix> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read matrix file {}: {e}", file.display()))?;
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let configs_dir = project::kernel_configs_dir();
    let exists = |p: &Path| p.exists();
    let context = Context { base_dir, configs_dir: &configs_dir, exists: &exists };
    Ok(parse(file, &text, &context)?)
}

/// Parses and validates matrix text. Every problem found is reported with its
/// position, not just the first.
pub fn parse(file: &Path, text: &str, cx: &Context<'_>) -> Result<Matrix, LocatedErrors> {
    let raw: RawMatrix = serde_yaml::from_str(text).map_err(|e| LocatedErrors(vec![Located::from_serde(file, &e)]))?;
    let index = YamlIndex::build(text);
    let mut errors = Vec::new();
    let mut error = |path: &str, message: String| errors.push(Located::new(file, index.value(path), message));

    if raw.variants.is_empty() {
        error("variants", "`variants` is empty: expected at least one variant".to_string());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut variants = Vec::new();
    for (i, rv) in raw.variants.iter().enumerate() {
        let at = |field: &str| format!("variants[{i}].{field}");
        if !valid_name(&rv.name) {
            error(
                &at("name"),
                format!(
                    "variant name `{}` is not allowed: expected 1-64 characters from a-z, 0-9, `-`, `_`, `.` (it names directories)",
                    rv.name
                ),
            );
        }
        if let Some(first) = seen.insert(&rv.name, i) {
            error(&at("name"), format!("duplicate variant name `{}` (first used by variants[{first}])", rv.name));
        }

        let source = match &rv.source {
            None => Some(Source::default_tarball()),
            Some(src) => match (&src.tarball, &src.dir, &src.git, &src.rev) {
                (Some(t), None, None, None) => Some(Source::Tarball(resolve(cx.base_dir, t))),
                (None, Some(d), None, None) => Some(Source::Dir(resolve(cx.base_dir, d))),
                (None, None, Some(g), Some(r)) if !r.trim().is_empty() => {
                    Some(Source::Git { repo: resolve(cx.base_dir, g), rev: r.clone() })
                }
                (None, None, Some(_), _) => {
                    error(&at("source"), "a git source needs `ref:` (a branch, tag or commit)".to_string());
                    None
                }
                _ => {
                    error(
                        &at("source"),
                        "expected exactly one of `tarball: PATH`, `dir: PATH`, or `git: PATH` with `ref: REV`"
                            .to_string(),
                    );
                    None
                }
            },
        };
        if let Some(Source::Tarball(p) | Source::Dir(p) | Source::Git { repo: p, .. }) = &source {
            let is_default = source == Some(Source::default_tarball());
            if !is_default && !(cx.exists)(p) {
                error(&at("source"), format!("source path {} does not exist", p.display()));
            }
        }

        let mut patches = Vec::new();
        for (j, patch) in rv.patches.iter().enumerate() {
            let path = resolve(cx.base_dir, patch);
            if !(cx.exists)(&path) {
                error(
                    &format!("variants[{i}].patches[{j}]"),
                    format!("patch input {} does not exist (expected a patch/mbox file, a quilt series file, or a directory)", path.display()),
                );
            }
            patches.push(path);
        }

        if rv.configs.is_empty() {
            error(
                &at("configs"),
                "`configs` is empty: expected at least one Kconfig fragment, e.g. [base]".to_string(),
            );
        }
        let mut configs = Vec::new();
        for (j, name) in rv.configs.iter().enumerate() {
            let path = fragment_path(cx, name);
            if !(cx.exists)(&path) {
                error(
                    &format!("variants[{i}].configs[{j}]"),
                    format!(
                        "Kconfig fragment `{name}` not found at {} (expected a name from kernel-configs/ such as `base`, or a path to a .config fragment)",
                        path.display()
                    ),
                );
            }
            configs.push(path);
        }

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
    for (field, name) in [("baseline", &raw.baseline), ("candidate", &raw.candidate)] {
        if let Some(name) = name {
            if !raw.variants.iter().any(|v| &v.name == name) {
                error(field, format!("`{field}: {name}` names no variant of this file"));
            }
        }
    }
    if raw.baseline.is_some() && raw.baseline == raw.candidate {
        error("candidate", "the candidate must be a different variant from the baseline".to_string());
    }
    let mut scenarios = Vec::new();
    let mut scenario_repetitions = Vec::new();
    for (i, entry) in raw.scenarios.iter().enumerate() {
        let name = entry.name();
        if entry.repetitions() == Some(0) {
            error(&format!("scenarios[{i}].repetitions"), "`repetitions` is 0: expected at least 1".to_string());
        }
        scenario_repetitions.push(entry.repetitions());
        let path = scenario_path(cx.base_dir, name);
        if !(cx.exists)(&path) {
            error(
                &format!("scenarios[{i}]"),
                format!(
                    "scenario `{name}` not found at {} (expected a scenario name next to the matrix file, or a path to a .yaml file)",
                    path.display()
                ),
            );
        }
        scenarios.push(path);
    }
    if raw.vcpus.is_empty() {
        error("vcpus", "`vcpus` is empty: expected a list of vCPU counts, e.g. [2, 4]".to_string());
    }
    for (i, &n) in raw.vcpus.iter().enumerate() {
        if n == 0 || n > MAX_VCPUS {
            error(&format!("vcpus[{i}]"), format!("{n} vCPUs: expected 1 to {MAX_VCPUS}"));
        }
    }
    if raw.repetitions == 0 {
        error("repetitions", "`repetitions` is 0: expected at least 1".to_string());
    }
    let th = raw.thresholds;
    if !(th.alpha > 0.0 && th.alpha < 1.0) {
        error("thresholds.alpha", format!("alpha {}: expected a significance level between 0 and 1", th.alpha));
    }
    if th.min_effect.is_nan() || th.min_effect < 0.0 {
        error(
            "thresholds.min_effect",
            format!("min_effect {}: expected a relative change >= 0 (0.10 = 10 %)", th.min_effect),
        );
    }
    for (i, e) in raw.expected_changes.iter().enumerate() {
        if !Metric::compared_names().contains(&e.metric.as_str()) {
            error(
                &format!("expected_changes[{i}].metric"),
                format!("unknown metric `{}`: expected one of {}", e.metric, Metric::compared_names().join(", ")),
            );
        }
        if e.why.trim().is_empty() {
            error(&format!("expected_changes[{i}].why"), "`why` is empty: say why this change is expected".to_string());
        }
    }
    for (i, metric) in raw.gate.iter().flatten().enumerate() {
        if !Metric::compared_names().contains(&metric.as_str()) {
            error(
                &format!("gate[{i}]"),
                format!("unknown metric `{metric}`: expected one of {}", Metric::compared_names().join(", ")),
            );
        }
    }
    if th.min_boots < 2 {
        error(
            "thresholds.min_boots",
            format!("min_boots {}: expected at least 2 (a spread needs two boots)", th.min_boots),
        );
    }
    if th.max_host_load.is_nan() || th.max_host_load < 0.0 {
        error(
            "thresholds.max_host_load",
            format!("max_host_load {}: expected host cores >= 0 (0.25 = a quarter of one core)", th.max_host_load),
        );
    }
    for (i, claim) in raw.claims.iter().enumerate() {
        if !Metric::compared_names().contains(&claim.metric.as_str()) {
            error(
                &format!("claims[{i}].metric"),
                format!("unknown metric `{}`: expected one of {}", claim.metric, Metric::compared_names().join(", ")),
            );
        }
        if claim.says.trim().is_empty() {
            error(&format!("claims[{i}].says"), "`says` is empty: state the claim in a sentence".to_string());
        }
        let names: Vec<String> = raw
            .scenarios
            .iter()
            .map(|s| {
                let stem = Path::new(s.name()).file_stem().map(|f| f.to_string_lossy().into_owned());
                stem.unwrap_or_else(|| s.name().to_string())
            })
            .collect();
        for (j, scenario) in claim.scenarios.iter().enumerate() {
            if !names.contains(scenario) {
                error(
                    &format!("claims[{i}].scenarios[{j}]"),
                    format!("scenario `{scenario}` is not in this matrix's `scenarios` ({})", names.join(", ")),
                );
            }
        }
        for (j, n) in claim.vcpus.iter().enumerate() {
            if !raw.vcpus.contains(n) {
                error(
                    &format!("claims[{i}].vcpus[{j}]"),
                    format!("{n} vCPUs is not among this matrix's `vcpus` {:?}", raw.vcpus),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(Matrix {
            file: file.to_path_buf(),
            variants,
            baseline: raw.baseline.clone(),
            candidate: raw.candidate.clone(),
            scenarios,
            scenario_repetitions,
            vcpus: raw.vcpus.clone(),
            repetitions: raw.repetitions,
            diff: DiffConfig {
                thresholds: raw.thresholds,
                expected: raw.expected_changes.clone(),
                gate: raw.gate.clone(),
                claims: raw.claims.clone(),
            },
        })
    } else {
        Err(LocatedErrors(errors))
    }
}

/// A bare name is a fragment in `kernel-configs/`; anything with a slash or a
/// `.config` suffix is a path relative to the matrix file.
fn fragment_path(cx: &Context<'_>, name: &str) -> PathBuf {
    if name.contains('/') || name.ends_with(".config") {
        resolve(cx.base_dir, name)
    } else {
        cx.configs_dir.join(format!("{name}.config"))
    }
}

/// A bare name is `<name>.yaml` next to the matrix file; anything with a
/// slash or a `.yaml` suffix is a path relative to it.
fn scenario_path(base: &Path, name: &str) -> PathBuf {
    if name.contains('/') || name.ends_with(".yaml") {
        resolve(base, name)
    } else {
        base.join(format!("{name}.yaml"))
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
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
