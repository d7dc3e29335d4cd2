//! The kernel library's layers: no cycle among `kernel/src`'s top-level
//! modules, and the `use crate::` edges exactly those that ARCHITECTURE.md's
//! "Kernel layers" table allows. A host test: it reads the sources as text.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// The top-level modules of `kernel/src` and the `.rs` files of each.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(src).expect("kernel/src") {
        let path = entry.expect("an entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 name").to_string();
        if name == "lib" {
            continue;
        }
        let files = out.entry(name).or_default();
        if path.is_dir() {
            let mut stack = vec![path];
            while let Some(dir) = stack.pop() {
                for e in fs::read_dir(&dir).expect("a module folder") {
                    let p = e.expect("an entry").path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "rs") {
                        files.push(p);
                    }
                }
            }
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    out
}

/// The text without `//` comments (doc comments name modules freely).
fn code(text: &str) -> String {
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

fn identifier_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Module -> the modules its code names through `crate::` (and through the
/// exported macros another module defines).
fn actual_edges(src: &Path) -> Graph {
    let mods = modules(src);
    let mut macros = BTreeMap::new();
    for (m, files) in &mods {
        for f in files {
            let text = fs::read_to_string(f).expect("a source file");
            for (i, _) in text.match_indices("#[macro_export]") {
                if let Some(at) = text[i..].find("macro_rules!") {
                    let name = identifier_at(text[i + at + "macro_rules!".len()..].trim_start());
                    macros.insert(name.to_string(), m.clone());
                }
            }
        }
    }
    let resolve =
        |name: &str| -> Option<String> { if mods.contains_key(name) { Some(name.to_string()) } else { macros.get(name).cloned() } };
    let mut edges = Graph::new();
    for (m, files) in &mods {
        let set = edges.entry(m.clone()).or_default();
        for f in files {
            let text = code(&fs::read_to_string(f).expect("a source file"));
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    group.split('}').next().unwrap_or("").split(',').map(|p| identifier_at(p.trim())).collect()
                } else {
                    vec![identifier_at(rest)]
                };
                for n in names {
                    if let Some(t) = resolve(n).filter(|t| t != m) {
                        set.insert(t);
                    }
                }
            }
        }
    }
    edges
}

/// ARCHITECTURE.md's "Kernel layers" table: `| \`module\` | \`a\`, \`b\` | what it is |`.
fn allowed_edges(architecture: &str) -> Graph {
    let section = architecture.split("## Kernel layers").nth(1).expect("ARCHITECTURE.md has a \"Kernel layers\" section");
    let mut graph = Graph::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [module, uses, _what] = cells[..] else { panic!("a layers row has three cells: {line}") };
        let Some(module) = module.strip_prefix('`').and_then(|m| m.strip_suffix('`')) else { continue };
        let uses = uses.split(',').filter_map(|u| u.trim().strip_prefix('`')?.strip_suffix('`')).map(str::to_string).collect();
        graph.insert(module.to_string(), uses);
    }
    graph
}

/// A cycle in `graph`, if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, graph: &Graph, state: &mut BTreeMap<String, u8>, path: &mut Vec<String>) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| p == n).expect("on the path");
                let mut c = path[start..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    graph.keys().find_map(|n| visit(n, graph, &mut state, &mut Vec::new()))
}

#[test]
fn kernel_modules_call_only_down_as_architecture_md_says() {
    let root = repo();
    let actual = actual_edges(&root.join("kernel/src"));
    let allowed = allowed_edges(&fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md"));
    let missing: Vec<&String> = actual.keys().filter(|m| !allowed.contains_key(*m)).collect();
    assert!(missing.is_empty(), "modules missing from ARCHITECTURE.md's layers table: {missing:?}");
    let gone: Vec<&String> = allowed.keys().filter(|m| !actual.contains_key(*m)).collect();
    assert!(gone.is_empty(), "the layers table names modules kernel/src does not have: {gone:?}");
    let mut wrong = Vec::new();
    for (m, uses) in &actual {
        for u in uses.difference(&allowed[m]) {
            wrong.push(format!("{m} -> {u} (not allowed)"));
        }
        for u in allowed[m].difference(uses) {
            wrong.push(format!("{m} -> {u} (allowed, but the code no longer uses it: drop it from the table)"));
        }
    }
    assert!(wrong.is_empty(), "kernel/src and ARCHITECTURE.md's layers table disagree:\n  {}", wrong.join("\n  "));
    assert_eq!(cycle(&allowed), None, "the layers table has a cycle");
}

#[test]
fn a_cycle_is_found() {
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()]))).collect();
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let dag: Graph = [("a", "b"), ("b", "c")].iter().map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()]))).collect();
    assert_eq!(cycle(&dag), None);
}

#[test]
fn edges_are_read_from_paths_groups_and_macros() {
    let dir = std::env::temp_dir().join(format!("odonata-layers-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("b")).unwrap();
    fs::write(dir.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").unwrap();
    fs::write(dir.join("a.rs"), "use crate::{b::x, c};\n// crate::d in a comment\nfn f() { crate::make!(); }").unwrap();
    fs::write(dir.join("b/mod.rs"), "pub fn x() {}").unwrap();
    fs::write(dir.join("c.rs"), "#[macro_export]\nmacro_rules! make { () => {} }").unwrap();
    fs::write(dir.join("d.rs"), "").unwrap();
    let edges = actual_edges(&dir);
    assert_eq!(edges["a"], BTreeSet::from(["b".to_string(), "c".to_string()]));
    assert!(edges["b"].is_empty() && edges["c"].is_empty());
    fs::remove_dir_all(&dir).unwrap();
}
