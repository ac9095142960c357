use std::path::{Path, PathBuf};

use super::*;

fn known() -> Vec<String> {
    ["victim_trivial", "victim_fops", "victim_export", "victim_slow_exit", "refcount_hammer", "stall_sampler", "hog"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios")
}

fn parse_text(name: &str, text: &str) -> Result<Scenario, LocatedErrors> {
    let modules = known();
    parse(Path::new(name), text, &Known { modules: &modules })
}

#[test]
fn the_everything_fixture_parses_into_the_expected_steps() {
    let text = std::fs::read_to_string(fixtures().join("valid/everything.yaml")).unwrap();
    let s = parse_text("everything.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "everything");
    assert_eq!(s.vcpus, 2);
    assert_eq!(s.deadline, Duration::from_secs(90));
    assert_eq!(s.steps.len(), 16);
    assert_eq!(
        s.steps[0],
        Step::Sampler(SamplerAction::Start {
            period: Duration::from_micros(200),
            threshold: Duration::from_millis(1),
            thread: true
        })
    );
    assert_eq!(
        s.steps[1],
        Step::Load {
            module: "victim_export".into(),
            params: "verbose=1".into(),
            expect: vec![Outcome::Ok],
            in_tree: false
        }
    );
    assert_eq!(s.steps[3], Step::Open { path: "/sys/kernel/debug/victim_fops/hold".into(), handle: "held".into() });
    assert_eq!(
        s.steps[4],
        Step::Hammer(HammerAction::Start {
            target: "victim_export".into(),
            cpus: Cpus::All,
            duration: Some(Duration::from_secs(2))
        })
    );
    let Step::Parallel { branches } = &s.steps[5] else { panic!("not parallel: {:?}", s.steps[5]) };
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0].cpu, Some(0));
    assert_eq!(
        branches[0].steps[0],
        Step::Loop {
            bound: LoopBound::Count(10),
            until_ok: false,
            steps: vec![Step::Unload {
                module: "victim_fops".into(),
                force: false,
                nonblock: false,
                expect: vec![Outcome::Errno(11)],
                window: true
            }]
        }
    );
    let Step::Read { check, .. } = &branches[1].steps[0] else { panic!() };
    assert!(check.lines.as_ref().unwrap().is_match("victim_fops 16384 1 - Live 0xffffffffa0000000 (O)"));
    assert_eq!(
        s.steps[8],
        Step::Hog(HogAction::Start { cpu: 1, hold: Duration::from_millis(5), period: Duration::from_millis(50) })
    );
    let Step::Loop { bound, until_ok, steps } = &s.steps[9] else { panic!() };
    assert_eq!((bound, until_ok), (&LoopBound::Duration(Duration::from_secs(3)), &true));
    assert_eq!(
        steps[0],
        Step::Unload {
            module: "victim_export".into(),
            force: false,
            nonblock: false,
            expect: vec![Outcome::Ok, Outcome::Errno(11)],
            window: false
        }
    );
    assert_eq!(s.steps[14], Step::Shell { command: "dmesg | tail -3".into(), status: Some(0) });
    assert_eq!(s.expect.allow, vec![EventClass::Warning]);
    assert_eq!(s.expect.refcount.get("stall_sampler"), Some(&0));
    assert_eq!(s.metrics.len(), 6);
}

/// Each broken fixture's errors, one per line, must equal its `.expected`
/// file (a snapshot: set MODRIG_BLESS=1 to rewrite them after a reviewed
/// change of wording).
#[test]
fn broken_fixtures_give_the_snapshotted_errors() {
    let dir = fixtures().join("broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = format!("broken/{}", file.file_name().unwrap().to_string_lossy());
        let errors = parse_text(&name, &text).expect_err(&format!("{name} parsed"));
        let got = format!("{errors}\n");
        let snapshot = file.with_extension("expected");
        if std::env::var_os("MODRIG_BLESS").is_some() {
            std::fs::write(&snapshot, &got).unwrap();
        }
        let want = std::fs::read_to_string(&snapshot)
            .unwrap_or_else(|_| panic!("no snapshot {}; run with MODRIG_BLESS=1 and review it", snapshot.display()));
        assert_eq!(got, want, "errors of {name} changed");
    }
}

#[test]
fn kbuild_modules_are_read_from_obj_m_lines() {
    let kbuild = "# c\nobj-m += a.o\nobj-m += b.o c.o\nccflags-y += -DX\nobj-m := d.o\n";
    assert_eq!(kbuild_modules(kbuild), ["a", "b", "c", "d"]);
}

/// A tiny deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The parser must answer every input with a scenario or located errors,
/// never a panic: random bytes, and thousands of mutations of a valid file
/// (the inputs most like real mistakes).
#[test]
fn the_parser_never_panics_on_any_input() {
    let valid = std::fs::read_to_string(fixtures().join("valid/everything.yaml")).unwrap();
    let pieces = [
        ":",
        "- ",
        "  ",
        "\n",
        "[",
        "]",
        "{",
        "}",
        "'",
        "\"",
        "#",
        "&a",
        "*a",
        "!!str",
        "~",
        "0x",
        "-1",
        "99999999999",
        "1e400",
        "loop:",
        "parallel:",
        "steps:",
        "expect:",
        "\t",
        "ms",
        "\u{0}",
        "é",
        "---",
        "...",
        "? ",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let text = if round % 10 == 0 {
            let len = rng.below(300);
            (0..len).map(|_| char::from_u32(rng.below(0x250) as u32).unwrap_or('?')).collect::<String>()
        } else {
            let mut chars: Vec<char> = valid.chars().collect();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(chars.len() + 1);
                match rng.below(4) {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 if at < chars.len() => chars[at] = pieces[rng.below(pieces.len())].chars().next().unwrap_or(' '),
                    _ => {
                        let piece = pieces[rng.below(pieces.len())];
                        for (k, c) in piece.chars().enumerate() {
                            chars.insert((at + k).min(chars.len()), c);
                        }
                    }
                }
            }
            chars.into_iter().collect()
        };
        let _ = parse_text("fuzz.yaml", &text);
    }
}

/// The complete example in scenarios/README.md is a valid scenario.
#[test]
fn the_readme_example_is_valid() {
    let readme = std::fs::read_to_string(fixtures().join("../../scenarios/README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("README has a yaml example") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = parse_text("scenarios/README.md", &readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "busy-rmmod-storm");
    assert_eq!(s.steps.len(), 8);
}

/// Every shipped scenario in scenarios/ is valid against the modules that
/// guests/modules really builds.
#[test]
fn the_shipped_scenarios_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let kbuild = std::fs::read_to_string(root.join("guests/modules/Kbuild")).unwrap();
    let modules = kbuild_modules(&kbuild);
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        // Matrices (matrix.yaml, mainline.yaml) live beside the scenarios.
        if path.extension().is_some_and(|e| e == "yaml") && !crate::inputs::is_matrix_file(&path) {
            crate::inputs::load_scenario(&path, &Known { modules: &modules }).unwrap_or_else(|e| panic!("{e:#}"));
            checked += 1;
        }
    }
    assert!(checked >= 2, "no scenarios found");
}

#[test]
fn the_kernels_own_modules_load_as_in_tree_and_are_listed_apart() {
    let text = "name: real\ndescription: a real driver loaded with its dependencies\ndeadline: 60s\n\
                modules: [refcount_hammer]\nkernel_modules: [null_blk]\nsteps:\n  - load: null_blk\n    \
                params: \"nr_devices=1\"\n  - load: refcount_hammer\n  - unload: null_blk\n";
    let s = parse_text("real.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.kernel_modules, ["null_blk"]);
    assert_eq!(
        s.steps[0],
        Step::Load {
            module: "null_blk".into(),
            params: "nr_devices=1".into(),
            expect: vec![Outcome::Ok],
            in_tree: true
        }
    );
    assert!(matches!(&s.steps[1], Step::Load { in_tree: false, .. }));
    let compiled = compile::compile(&s);
    assert_eq!(
        compiled.program.steps[0],
        modrig_proto::Step::LoadInTree { name: "null_blk".into(), params: "nr_devices=1".into() }
    );

    let both = "name: both\ndescription: one module in both lists is an error\ndeadline: 60s\n\
                modules: [hog]\nkernel_modules: [hog, bad/name]\nsteps:\n  - load: hog\n";
    let errors = parse_text("both.yaml", both).unwrap_err().to_string();
    assert!(errors.contains("both.yaml:5:18: `hog` is in both `modules:` and `kernel_modules:`"), "{errors}");
    assert!(errors.contains("both.yaml:5:23: kernel module `bad/name`: expected a module name"), "{errors}");
}
