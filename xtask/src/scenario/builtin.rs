//! The scenarios built into the binary: the rig's smoke test (`load-unload`),
//! the boot `bench boot` times (`boot`), and the three fixtures that prove the
//! PANIC, HANG and kernel-log verdicts. They are ordinary scenario files in
//! `scenarios/builtin/`, embedded so that `cargo xtask run boot` works from
//! any directory and a checkout without them still has them.

use std::path::PathBuf;

/// `(name, YAML text)` of every built-in scenario.
const BUILTINS: [(&str, &str); 5] = [
    ("load-unload", include_str!("../../../scenarios/builtin/load-unload.yaml")),
    ("boot", include_str!("../../../scenarios/builtin/boot.yaml")),
    ("fixture-panic-in-init", include_str!("../../../scenarios/builtin/fixture-panic-in-init.yaml")),
    ("fixture-hang-in-exit", include_str!("../../../scenarios/builtin/fixture-hang-in-exit.yaml")),
    ("fixture-warn", include_str!("../../../scenarios/builtin/fixture-warn.yaml")),
];

/// A built-in scenario's text and the path its errors are reported under.
pub struct Builtin {
    pub file: PathBuf,
    pub text: &'static str,
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Builtin> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| Builtin { file: PathBuf::from(format!("scenarios/builtin/{n}.yaml")), text })
}

/// The names of the built-in scenarios, for help and error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{kbuild_modules, parse, Known};

    #[test]
    fn every_builtin_is_a_valid_scenario_named_as_it_is_called() {
        let kbuild = include_str!("../../../guests/modules/Kbuild");
        let modules = kbuild_modules(kbuild);
        for name in names() {
            let builtin = find(name).unwrap();
            let scenario = parse(&builtin.file, builtin.text, &Known { modules: &modules })
                .unwrap_or_else(|e| panic!("built-in {name}: {e}"));
            assert_eq!(scenario.name, name);
        }
        assert!(find("nope").is_none());
    }
}
