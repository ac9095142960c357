//! Kconfig fragments: parse, merge, and verify that Kconfig kept what was asked.
//!
//! `olddefconfig` silently drops a symbol whose dependencies are not met; a
//! rig that then measures "the debug kernel" without lockdep would lie. So
//! every requested `CONFIG_X=value` is checked against the final `.config`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::diag::Located;

/// One `CONFIG_X=value` line; `n` stands for `# CONFIG_X is not set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub symbol: String,
    pub value: String,
}

/// Parses a fragment or a full `.config`. Blank lines and ordinary comments
/// are skipped; anything else that is not a setting is an error at its line.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Setting>, Located> {
    let mut settings = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(symbol) = rest.strip_suffix(" is not set").and_then(|s| s.strip_prefix("CONFIG_")) {
                if valid_symbol(symbol) {
                    settings.push(Setting { symbol: symbol.to_string(), value: "n".to_string() });
                    continue;
                }
            } else {
                continue; // an ordinary comment
            }
        }
        if line.starts_with('#') {
            continue;
        }
        let parsed = line
            .strip_prefix("CONFIG_")
            .and_then(|s| s.split_once('='))
            .filter(|(symbol, value)| valid_symbol(symbol) && !value.is_empty());
        match parsed {
            Some((symbol, value)) => settings.push(Setting { symbol: symbol.to_string(), value: value.to_string() }),
            None => {
                return Err(Located::new(
                    file,
                    (n + 1, 1),
                    format!("expected `CONFIG_NAME=value` or `# CONFIG_NAME is not set`, found `{line}`"),
                ))
            }
        }
    }
    Ok(settings)
}

fn valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty() && symbol.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Fragments merged in order: a later fragment overrides an earlier one, as
/// with `merge_config.sh`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// In first-seen order, with the last value asked.
    pub settings: Vec<Setting>,
    /// `(symbol, earlier value, later value)` for each override, so a user can
    /// see that debug.config changed something base.config asked for.
    pub overrides: Vec<(String, String, String)>,
}

pub fn merge<'a>(fragments: impl IntoIterator<Item = &'a [Setting]>) -> Merged {
    let mut merged = Merged::default();
    let mut position: BTreeMap<String, usize> = BTreeMap::new();
    for fragment in fragments {
        for setting in fragment {
            match position.get(&setting.symbol) {
                Some(&i) => {
                    let old = &mut merged.settings[i].value;
                    if *old != setting.value {
                        merged.overrides.push((setting.symbol.clone(), old.clone(), setting.value.clone()));
                        *old = setting.value.clone();
                    }
                }
                None => {
                    position.insert(setting.symbol.clone(), merged.settings.len());
                    merged.settings.push(setting.clone());
                }
            }
        }
    }
    merged
}

impl Merged {
    /// The merged fragment as Kconfig input (`KCONFIG_ALLCONFIG`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.settings {
            if s.value == "n" {
                out.push_str(&format!("# CONFIG_{} is not set\n", s.symbol));
            } else {
                out.push_str(&format!("CONFIG_{}={}\n", s.symbol, s.value));
            }
        }
        out
    }
}

/// A requested value that did not survive into the final `.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub symbol: String,
    pub asked: String,
    /// `None`: the symbol is absent (its dependencies are not met, or it does
    /// not exist in this source).
    pub got: Option<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = match &self.got {
            Some(v) if v == "n" => "n (is not set)".to_string(),
            Some(v) => v.clone(),
            None => "absent from .config (dependencies not met, or no such symbol)".to_string(),
        };
        write!(f, "CONFIG_{}: asked {}, got {}", self.symbol, self.asked, got)
    }
}

/// Compares what was asked with the final `.config` text.
pub fn verify(requested: &[Setting], final_config: &str) -> Vec<Mismatch> {
    let actual: BTreeMap<String, String> = parse(Path::new(".config"), final_config)
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.symbol, s.value))
        .collect();
    requested
        .iter()
        .filter_map(|want| {
            let got = actual.get(&want.symbol);
            let ok = match got {
                Some(v) => *v == want.value,
                // An absent symbol is effectively off.
                None => want.value == "n",
            };
            (!ok).then(|| Mismatch { symbol: want.symbol.clone(), asked: want.value.clone(), got: got.cloned() })
        })
        .collect()
}

/// The `depends on` / `select`-relevant lines of a symbol's definition in a
/// Kconfig file's text, to explain why Kconfig dropped it.
pub fn definition_hint(kconfig_text: &str, symbol: &str) -> Option<Vec<String>> {
    let mut lines = kconfig_text.lines();
    let header = [format!("config {symbol}"), format!("menuconfig {symbol}")];
    lines.by_ref().find(|l| header.iter().any(|h| l.trim_end() == h))?;
    let mut hints = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.starts_with("config ")
            || t.starts_with("menuconfig ")
            || t.starts_with("endmenu")
            || t.starts_with("menu ")
            || t.starts_with("choice")
            || t.starts_with("endchoice")
            || t.starts_with("if ")
            || t == "endif"
        {
            break;
        }
        if t.starts_with("depends on")
            || t.starts_with("bool ") && t.contains(" if ")
            || t.starts_with("tristate ") && t.contains(" if ")
        {
            hints.push(t.to_string());
        }
    }
    Some(hints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Vec<Setting> {
        parse(Path::new("f.config"), text).unwrap()
    }

    #[test]
    fn parses_values_and_not_set() {
        let s = settings("# comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"str x\"\nCONFIG_D=0x10\n");
        assert_eq!(
            s.iter().map(|s| (s.symbol.as_str(), s.value.as_str())).collect::<Vec<_>>(),
            vec![("A", "y"), ("B", "n"), ("C", "\"str x\""), ("D", "0x10")]
        );
    }

    #[test]
    fn garbage_is_located() {
        let err = parse(Path::new("k/base.config"), "CONFIG_A=y\nCONFIG_B\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "k/base.config:2:1: expected `CONFIG_NAME=value` or `# CONFIG_NAME is not set`, found `CONFIG_B`"
        );
        assert!(parse(Path::new("f"), "CONFIG_lower=y\n").is_err());
        assert!(parse(Path::new("f"), "CONFIG_X=\n").is_err());
    }

    #[test]
    fn later_fragments_override_and_keep_first_order() {
        let base = settings("CONFIG_A=y\nCONFIG_B=y\n");
        let debug = settings("CONFIG_C=y\n# CONFIG_A is not set\nCONFIG_B=y\n");
        let merged = merge([base.as_slice(), debug.as_slice()]);
        assert_eq!(merged.render(), "# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=y\n");
        assert_eq!(merged.overrides, vec![("A".to_string(), "y".to_string(), "n".to_string())]);
    }

    #[test]
    fn verify_reports_dropped_and_changed_symbols() {
        let requested =
            settings("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n# CONFIG_D is not set\nCONFIG_E=64\nCONFIG_F=y\n");
        let final_config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_E=8\n# CONFIG_D is not set\n";
        let mismatches: Vec<String> = verify(&requested, final_config).iter().map(|m| m.to_string()).collect();
        assert_eq!(
            mismatches,
            vec![
                "CONFIG_B: asked y, got n (is not set)",
                "CONFIG_E: asked 64, got 8",
                "CONFIG_F: asked y, got absent from .config (dependencies not met, or no such symbol)",
            ]
        );
    }

    #[test]
    fn hint_finds_dependencies() {
        let kconfig = "config KASAN\n\tbool \"KASAN\"\n\tdepends on HAVE_ARCH_KASAN && CC_HAS_KASAN\n\tselect STACKDEPOT\n\nconfig OTHER\n\tdepends on X\n";
        assert_eq!(definition_hint(kconfig, "KASAN").unwrap(), vec!["depends on HAVE_ARCH_KASAN && CC_HAS_KASAN"]);
        assert_eq!(definition_hint(kconfig, "MISSING"), None);
    }
}
