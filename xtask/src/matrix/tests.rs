use super::*;

/// Parses with `existing` as the only files there are, besides the
/// default fragments (a variant without `configs:` names them).
fn parse_with(text: &str, existing: &[&str]) -> Result<Matrix, LocatedErrors> {
    let existing: Vec<PathBuf> =
        existing.iter().chain(&["/kc/base.config", "/kc/victims.config"]).map(PathBuf::from).collect();
    let exists = move |p: &Path| existing.iter().any(|e| e == p);
    let cx = Context {
        base_dir: Path::new("/m"),
        configs_dir: Path::new("/kc"),
        scenarios_dir: Path::new("/shipped"),
        home: Some(Path::new("/home/dev")),
        exists: &exists,
    };
    parse(Path::new("/m/matrix.yaml"), text, &cx)
}

fn messages(result: Result<Matrix, LocatedErrors>) -> Vec<String> {
    result.unwrap_err().0.iter().map(|e| e.to_string()).collect()
}

#[test]
fn valid_matrix_resolves_paths_and_defaults() {
    let text = "\
variants:
  - name: upstream
    description: the default source
  - name: stop-machine
    patches: [../patches/stop-machine]
    configs: [base, extra/my.config]
  - name: mine
    source: { git: /src/linux, ref: v6.12 }
";
    let m = parse_with(text, &["/kc/base.config", "/m/../patches/stop-machine", "/m/extra/my.config", "/src/linux"])
        .unwrap();
    assert_eq!(m.variants.len(), 3);
    assert_eq!(m.variants[0].source, Source::default_source());
    assert_eq!(m.variants[0].configs, [PathBuf::from("/kc/base.config"), PathBuf::from("/kc/victims.config")]);
    assert_eq!(m.variants[1].patches, vec![PathBuf::from("/m/../patches/stop-machine")]);
    assert_eq!(m.variants[1].configs[1], PathBuf::from("/m/extra/my.config"));
    assert_eq!(m.variants[2].source, Source::Git { repo: "/src/linux".into(), rev: "v6.12".into() });
}

#[test]
fn unknown_key_names_file_line_and_column() {
    let text = "variants:\n  - name: a\n    patchez: []\n";
    assert_eq!(
        messages(parse_with(text, &["/kc/base.config"])),
        vec!["/m/matrix.yaml:3:5: variants[0]: unknown field `patchez`, expected one of `name`, `description`, `source`, `patches`, `configs`"]
    );
}

#[test]
fn wrong_type_is_located() {
    let text = "variants:\n  - name: a\n    configs: base\n";
    let msgs = messages(parse_with(text, &[]));
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].starts_with(
            "/m/matrix.yaml:3:14: variants[0].configs: invalid type: string \"base\", expected a sequence"
        ),
        "{msgs:?}"
    );
}

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let text = "\
variants:
  - name: a
    configs: [base, nope]
  - name: a
    patches:
      - missing.patch
  - name: Bad Name
    source: { tarball: /t.tar.xz, dir: /d }
  - name: g
    source: { git: /src/linux }
";
    assert_eq!(
        messages(parse_with(text, &["/kc/base.config", "/src/linux"])),
        vec![
            "/m/matrix.yaml:3:21: Kconfig fragment `nope` not found at /kc/nope.config (expected a name from kernel-configs/ such as `base`, or a path to a .config fragment)",
            "/m/matrix.yaml:4:11: duplicate variant name `a` (first used by variants[0])",
            "/m/matrix.yaml:6:9: patch input /m/missing.patch does not exist (expected a patch/mbox file, a quilt series file, or a directory)",
            "/m/matrix.yaml:7:11: variant name `Bad Name` is not allowed: expected 1-64 characters from a-z, 0-9, `-`, `_`, `.` (it names directories)",
            "/m/matrix.yaml:8:13: expected exactly one of `tarball: PATH`, `dir: PATH`, `git: PATH` with `ref: REV`, or `debian: linux-source-<version>`",
            "/m/matrix.yaml:10:13: a git source needs `ref:` (a branch, tag or commit)",
        ]
    );
}

#[test]
fn a_debian_source_names_a_linux_source_package() {
    let text = "\
variants:
  - name: mainline
    source: { debian: linux-source-7.2 }
  - name: other
    source: { debian: linux-image-amd64 }
";
    assert_eq!(
        messages(parse_with(text, &["/kc/base.config"])),
        vec![
            "/m/matrix.yaml:5:23: `linux-image-amd64` is not a Debian kernel source package: expected linux-source-<version>, e.g. linux-source-6.1, linux-source-6.12 or linux-source-7.2"
        ]
    );
    let text = "variants:\n  - name: mainline\n    source: { debian: linux-source-7.2 }\n";
    let m = parse_with(text, &["/kc/base.config"]).unwrap();
    assert_eq!(m.variants[0].source, Source::Debian { package: "linux-source-7.2".into() });
}

#[test]
fn empty_and_syntax_errors() {
    assert_eq!(
        messages(parse_with("variants: []\n", &[])),
        vec!["/m/matrix.yaml:1:11: `variants` is empty: expected at least one variant"]
    );
    let msgs = messages(parse_with("variants:\n  - name: \"unterminated\n", &[]));
    assert!(msgs[0].starts_with("/m/matrix.yaml:3:1: "), "{msgs:?}");
}

#[test]
fn a_scenario_can_have_its_own_repetitions() {
    let text = "\
variants:
  - name: a
  - name: b
scenarios:
  - timing
  - scenario: correctness
    repetitions: 2
repetitions: 6
";
    let m = parse_with(text, &["/kc/base.config", "/m/timing.yaml", "/m/correctness.yaml"]).unwrap();
    assert_eq!(m.scenario_repetitions, vec![None, Some(2)]);
    assert_eq!(m.repetitions, 6);
    let bad = text.replace("repetitions: 2", "repetitions: 0");
    assert_eq!(
        messages(parse_with(&bad, &["/kc/base.config", "/m/timing.yaml", "/m/correctness.yaml"])),
        vec!["/m/matrix.yaml:7:18: `repetitions` is 0: expected at least 1"]
    );
}

#[test]
fn select_unknown_variant_lists_known_ones() {
    let m = parse_with("variants:\n  - name: a\n  - name: b\n", &["/kc/base.config"]).unwrap();
    assert_eq!(m.select(&[]).unwrap().len(), 2);
    let err = m.select(&["c".to_string()]).unwrap_err().to_string();
    assert_eq!(err, "no variant named `c` in /m/matrix.yaml; known variants: a, b");
}

#[test]
fn a_matrix_is_told_from_a_scenario_by_its_variants_key() {
    assert!(has_variants_key("# comment\nvariants:\n  - name: a\n"));
    assert!(!has_variants_key("name: s\nsteps:\n  - load: m\n    variants: nope\n"));
}

#[test]
fn a_bare_scenario_name_is_found_beside_the_file_then_among_the_shipped_ones() {
    let text = "variants:\n  - name: a\n  - name: b\nscenarios: [mine, unload-noise, nowhere, dir/x.yaml]\n";
    let existing = ["/kc/base.config", "/m/mine.yaml", "/shipped/unload-noise.yaml", "/shipped/mine.yaml"];
    assert_eq!(
        messages(parse_with(text, &existing)),
        vec![
            "/m/matrix.yaml:4:33: scenario `nowhere` not found at /m/nowhere.yaml or /shipped/nowhere.yaml (expected a scenario name next to the matrix file or among the shipped scenarios, or a path to a .yaml file)",
            "/m/matrix.yaml:4:42: scenario `dir/x.yaml` not found at /m/dir/x.yaml (expected a scenario name next to the matrix file or among the shipped scenarios, or a path to a .yaml file)",
        ]
    );
    let ok = text.replace(", nowhere, dir/x.yaml", "");
    let m = parse_with(&ok, &existing).unwrap();
    // The file's own `mine` wins over a shipped one of the same name.
    assert_eq!(m.scenarios, vec![PathBuf::from("/m/mine.yaml"), PathBuf::from("/shipped/unload-noise.yaml")]);
}

#[test]
fn module_directories_are_relative_to_the_file_and_need_a_kbuild() {
    let text = "variants:\n  - name: a\n  - name: b\nmodules: [mine, /abs/theirs, empty]\n";
    let existing = ["/kc/base.config", "/m/mine/Kbuild", "/abs/theirs/Makefile"];
    assert_eq!(
        messages(parse_with(text, &existing)),
        vec![
            "/m/matrix.yaml:4:30: module directory /m/empty has no Kbuild or Makefile (expected an out-of-tree module directory that `make M=` builds, with `obj-m += NAME.o`)"
        ]
    );
    let m = parse_with(&text.replace(", empty", ""), &existing).unwrap();
    assert_eq!(m.module_dirs, vec![PathBuf::from("/m/mine"), PathBuf::from("/abs/theirs")]);
}

#[test]
fn a_path_written_from_home_is_in_the_home_directory() {
    let text =
        "variants:\n  - name: a\n    source: { git: ~/src/linux, ref: v7.2 }\n  - name: b\nmodules: [~/src/mydrv]\n";
    let existing = ["/kc/base.config", "/home/dev/src/linux", "/home/dev/src/mydrv/Makefile"];
    let m = parse_with(text, &existing).unwrap();
    assert_eq!(m.variants[0].source, Source::Git { repo: PathBuf::from("/home/dev/src/linux"), rev: "v7.2".into() });
    assert_eq!(m.module_dirs, vec![PathBuf::from("/home/dev/src/mydrv")]);
}
