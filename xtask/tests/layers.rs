//! The house rule, checked: `xtask/src`'s top-level modules sit in layers,
//! and a module imports only from its own layer or the ones below, with no
//! circle anywhere. An import that breaks the rule fails this test, so the
//! import circle the crate once had cannot come back.
//!
//! `cargo test -p xtask --test layers -- --nocapture` prints the module
//! graph (module -> modules it uses), bottom layer first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use modules of its own layer and
/// of the layers below it.
const LAYERS: [(&str, &[&str]); 5] = [
    // Plain data: the types that are files or cross seams. No I/O, no clap,
    // no logic beyond trivial accessors and serde.
    ("plain data", &["cell", "diff_config", "kernel_event", "metrics", "outcome", "progress", "record", "variant"]),
    // Small utilities: located errors, the YAML index, hashing, atomic
    // writes, time formatting, errno names, project paths.
    ("utilities", &["diag", "errno", "fsutil", "hashing", "project", "timefmt", "yaml_loc"]),
    // Pure cores: text or data in, data out.
    ("pure cores", &["calibration", "classify", "diff", "matrix", "report", "scenario", "stats", "verdict"]),
    // I/O shells: the host, kernel builds, guests, cells and matrix runs
    // carried out, results on disk and their reports.
    (
        "I/O shells",
        &[
            "doctor",
            "executor",
            "guest",
            "inputs",
            "kernel",
            "matrix_job",
            "prepare",
            "reporter",
            "results",
            "run_report",
        ],
    ),
    // Commands: one module per subcommand under `commands/` (see
    // `no_command_calls_another`).
    ("commands", &["commands"]),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules of `src` (a `name.rs` file or a `name/` directory).
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "main" && stem != "lib" {
                modules.insert(stem.to_string());
            }
        }
    }
    modules
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a piece of code names through `crate::` paths,
/// including the items of `use crate::{a, b::c}` groups.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |text: &str| -> String {
        text.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `xcrate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group: split at its top-level commas only
            // (`{a, b::{c, d}, e}` names a, b and e).
            let mut depth = 0;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(&group[item_start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(&group[item_start..i]));
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            found.remove("");
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// `text` without its `#[cfg(test)] mod tests` (inline or `mod tests;`):
/// test code may reach anywhere, the rule is about the product. An inline
/// module ends at the first `}` in column 0 (the code is rustfmt'd); code
/// after it is product code again.
fn product_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let mut item = lines.clone();
            match item.next().map(str::trim) {
                Some("mod tests;") => {
                    lines = item;
                    continue;
                }
                Some("mod tests {") => {
                    lines = item;
                    lines.by_ref().find(|l| l.starts_with('}'));
                    continue;
                }
                _ => {}
            }
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Module -> the other top-level modules its non-test code uses.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if !modules.contains(&module) || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for used in crate_paths(&product_code(&text)) {
            if used != module && modules.contains(&used) {
                graph.get_mut(&module).unwrap().insert(used);
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, members)| members.contains(&module))
}

/// A circle through `start`, if there is one (depth-first search).
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in &graph[at] {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(start.to_string());
        path
    })
}

#[test]
fn crate_paths_are_read_from_use_lines_and_inline_paths() {
    let code = "use crate::diag::Located;\nuse crate::{doctor, matrix::plan::{self, Cell}, project};\nlet x = crate::stats::median(&v);\nuse xcrate::nope;";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["diag", "doctor", "matrix", "project", "stats"]);
}

#[test]
fn test_modules_are_left_out_and_code_after_them_is_kept() {
    let text = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n\nfn f() { crate::c::g() }\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nfn h() { crate::d::i() }\n";
    let found: Vec<String> = crate_paths(&product_code(text)).into_iter().collect();
    assert_eq!(found, ["a", "c", "d"]);
}

#[test]
fn every_module_has_a_layer_and_imports_only_downwards_without_circles() {
    let graph = import_graph(&src_dir());
    for (index, (name, members)) in LAYERS.iter().enumerate() {
        println!("layer {} ({name}):", index + 1);
        for module in members.iter().filter(|m| graph.contains_key(**m)) {
            let uses: Vec<&str> = graph[*module].iter().map(String::as_str).collect();
            println!("  {module} -> {}", if uses.is_empty() { "-".to_string() } else { uses.join(", ") });
        }
    }
    let mut problems = Vec::new();
    for (module, uses) in &graph {
        let Some(layer) = layer_of(module) else {
            problems.push(format!("`{module}` has no layer: add it to LAYERS in {}", file!()));
            continue;
        };
        for used in uses {
            match layer_of(used) {
                Some(below) if below <= layer => {}
                Some(above) => problems.push(format!(
                    "`{module}` ({}) imports `{used}` from a layer above it ({})",
                    LAYERS[layer].0, LAYERS[above].0
                )),
                None => {}
            }
        }
    }
    for module in graph.keys() {
        if let Some(circle) = circle_from(&graph, module) {
            problems.push(format!("import circle: {}", circle.join(" -> ")));
            break;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The subcommand a file under `commands/` belongs to (`run` for
/// `commands/run.rs`, `ci` for `commands/ci/examples.rs`).
fn command_of(file: &Path, commands: &Path) -> String {
    let first = file.strip_prefix(commands).unwrap().components().next().unwrap();
    let first = first.as_os_str().to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_string()
}

#[test]
fn no_command_calls_another() {
    let commands = src_dir().join("commands");
    let mut files = Vec::new();
    rust_files(&commands, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let command = command_of(&file, &commands);
        let text = fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::commands::") {
            let rest = &code[at + "crate::commands::".len()..];
            let used: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // Shared flags are defined once, in `flags`, for every command.
            if used != command && used != "flags" {
                problems.push(format!("{} (command `{command}`) uses command `{used}`", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "a command calls another; move what they share below them:\n{}", problems.join("\n"));
}

/// What in a pure core or plain-data module would be I/O: the file system,
/// processes, sockets, the environment, printing.
const IO_MARKERS: [&str; 9] =
    ["std::fs", "fs::", "File::", "std::process", "Command::new", "std::net", "std::env", "println!", "eprintln!"];

#[test]
fn plain_data_and_pure_cores_do_no_io() {
    let src = src_dir();
    let mut problems = Vec::new();
    for (_, members) in LAYERS.iter().filter(|(name, _)| *name == "plain data" || *name == "pure cores") {
        for module in *members {
            let mut files = Vec::new();
            let dir = src.join(module);
            if dir.is_dir() {
                rust_files(&dir, &mut files);
            }
            let file = src.join(format!("{module}.rs"));
            if file.is_file() {
                files.push(file);
            }
            for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n != "tests.rs")) {
                let code = product_code(&fs::read_to_string(file).unwrap());
                for marker in IO_MARKERS.iter().filter(|m| code.contains(**m)) {
                    problems.push(format!("{} (`{module}`) uses `{marker}`", file.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "I/O belongs in the I/O shells:\n{}", problems.join("\n"));
}

#[test]
fn only_commands_know_clap() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let commands = src.join("commands");
    let problems: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&commands) && f.file_name().is_some_and(|n| n != "main.rs"))
        .filter(|f| product_code(&fs::read_to_string(f).unwrap()).contains("clap"))
        .map(|f| format!("{} uses clap: flags are the commands' business (`commands/`)", f.display()))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
