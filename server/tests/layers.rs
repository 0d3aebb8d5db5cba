//! The server's module layers, checked against its source.
//!
//! `src/lib.rs` lists the layers ("## Layers": numbered lines naming top-level modules). Here
//! every `crate::NAME` in a module's files (its unit tests left out, doc links counted: a doc
//! that points up a layer is a dependency in the reader's head) is an import of NAME, and:
//!
//! - every top-level module is in exactly one layer;
//! - a module imports only modules of its own layer or of earlier ones;
//! - no imports go round in a circle.
//!
//! Run it alone with `cargo test -p framecast --test layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → (file and line of the first import) per imported module.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The layers as `lib.rs` lists them: module → layer number.
fn layers() -> BTreeMap<String, u32> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let section = lib.split("//! ## Layers").nth(1).expect("lib.rs has a '## Layers' section");
    let mut layers = BTreeMap::new();
    for line in section.lines().skip(1).take_while(|l| l.starts_with("//!")) {
        let text = line.trim_start_matches("//!").trim();
        let Some((number, rest)) = text.split_once(". ") else { continue };
        let Ok(number) = number.parse::<u32>() else { continue };
        let names = rest.split_once(':').map_or(rest, |(_, names)| names);
        for name in names.split(',') {
            let name = name.trim().trim_start_matches("[`").trim_end_matches("`]");
            assert!(layers.insert(name.to_string(), number).is_none(), "{name} is in two layers");
        }
    }
    assert!(!layers.is_empty(), "no numbered layer lines under '## Layers' in lib.rs");
    layers
}

/// The top-level modules: files and folders of `src/` but `lib.rs` and `main.rs`.
fn modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .expect("src/")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".rs") {
                Some("lib" | "main") => None,
                Some(module) => Some(module.to_string()),
                None if entry.path().is_dir() => Some(name),
                None => None,
            }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a file without its unit-test module (`#[cfg(test)] mod tests { ... }` to the
/// end of the file, where this code base keeps it).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// `crate::NAME` occurrences in `text`.
fn crate_paths(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("crate::").filter_map(move |(at, _)| {
        // `framecast_crate::` or `$crate::` are not this crate.
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            return None;
        }
        let rest = &text[at + "crate::".len()..];
        let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))?;
        Some(&rest[..end])
    })
}

fn graph(modules: &BTreeSet<String>) -> Graph {
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeMap::new())).collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let relative = file.strip_prefix(src()).expect("under src/");
        let top = relative.components().next().expect("a component").as_os_str().to_string_lossy();
        let module = top.strip_suffix(".rs").unwrap_or(&top).to_string();
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in without_tests(&text).lines().enumerate() {
            for target in crate_paths(line) {
                if target != module && modules.contains(target) {
                    graph
                        .get_mut(&module)
                        .expect("known module")
                        .entry(target.to_string())
                        .or_insert_with(|| format!("src/{}:{}", relative.display(), n + 1));
                }
            }
        }
    }
    graph
}

/// Imports that lead back to where they started, as paths `a -> b -> a`.
fn cycles(graph: &Graph) -> Vec<String> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            out.push(cycle.join(" -> "));
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph[node].keys() {
            visit(next, graph, path, done, out);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn every_module_is_in_one_layer() {
    let layers = layers();
    let modules = modules();
    let unlisted: Vec<_> = modules.iter().filter(|m| !layers.contains_key(*m)).collect();
    let unknown: Vec<_> = layers.keys().filter(|m| !modules.contains(*m)).collect();
    assert!(unlisted.is_empty(), "modules missing from lib.rs's '## Layers': {unlisted:?}");
    assert!(unknown.is_empty(), "lib.rs's '## Layers' names modules that do not exist: {unknown:?}");
}

#[test]
fn no_module_imports_a_later_layer() {
    let layers = layers();
    let graph = graph(&modules());
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        let Some(&own) = layers.get(module) else { continue };
        for (target, place) in imports {
            if layers.get(target).is_some_and(|&layer| layer > own) {
                wrong.push(format!(
                    "{module} (layer {own}) -> {target} (layer {}) at {place}",
                    layers[target]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports of later layers:\n{}", wrong.join("\n"));
}

#[test]
fn no_imports_go_round_in_a_circle() {
    let graph = graph(&modules());
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checks_see_a_circle_and_a_skipped_test_module() {
    // The checker itself: a two-module circle is found, and unit tests do not count.
    let mut graph = Graph::new();
    graph.insert("a".into(), BTreeMap::from([("b".to_string(), "x".to_string())]));
    graph.insert("b".into(), BTreeMap::from([("a".to_string(), "y".to_string())]));
    graph.insert("c".into(), BTreeMap::from([("a".to_string(), "z".to_string())]));
    assert_eq!(cycles(&graph), vec!["a -> b -> a"]);
    let text = "use crate::hub::Hub;\n#[cfg(test)]\nmod tests {\n    use crate::http::x;\n}\n";
    let found: Vec<_> = crate_paths(without_tests(text)).collect();
    assert_eq!(found, vec!["hub"]);
    assert_eq!(crate_paths("framecast_crate::x $crate::y").count(), 0);
}
