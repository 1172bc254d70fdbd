//! The crate's layout rule, checked on its sources: within a folder, no two files import each
//! other, directly or around a loop. A folder's `mod.rs` declares and re-exports its children
//! and may use them; a child that needs something of the folder imports it from the file
//! that defines it (a re-export through `mod.rs` counts as an import of its home), so the
//! imports of a folder run one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[test]
fn no_two_files_of_a_folder_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut loops = Vec::new();
    let mut folders = 0;
    for folder in folders_with_mod(&root) {
        folders += 1;
        let edges = folder_edges(&folder);
        if let Some(cycle) = find_cycle(&edges) {
            let name = folder.strip_prefix(&root).unwrap_or(&folder).display();
            loops.push(format!("src/{name}: {}", cycle.join(" -> ")));
        }
    }
    assert!(
        folders >= 10,
        "only {folders} folders found under {}",
        root.display()
    );
    assert!(
        loops.is_empty(),
        "files that import each other:\n{}",
        loops.join("\n")
    );
}

#[test]
fn the_check_finds_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path();
    std::fs::write(
        folder.join("mod.rs"),
        "mod a;\nmod b;\npub use a::A;\npub const ID: &str = \"x\";\n",
    )
    .unwrap();
    std::fs::write(folder.join("a.rs"), "use super::b::B;\npub struct A;\n").unwrap();
    std::fs::write(folder.join("b.rs"), "use super::{A, ID};\npub struct B;\n").unwrap();
    let edges = folder_edges(folder);
    assert_eq!(
        find_cycle(&edges).map(|cycle| cycle.len()),
        Some(3),
        "{edges:?}"
    );
    // Only a re-export and a declaration: no loop.
    std::fs::write(folder.join("b.rs"), "pub struct B;\n").unwrap();
    assert_eq!(find_cycle(&folder_edges(folder)), None);
    // mod.rs using a child, and that child importing an item defined in mod.rs: a loop.
    std::fs::write(folder.join("mod.rs"), "mod a;\nmod b;\nfn f() { b::g() }\n").unwrap();
    std::fs::write(folder.join("b.rs"), "use super::f;\npub fn g() {}\n").unwrap();
    assert!(find_cycle(&folder_edges(folder)).is_some());
}

/// Every folder below `root` that has a `mod.rs`.
fn folders_with_mod(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.join("mod.rs").is_file() {
                    found.push(path.clone());
                }
                dirs.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A file's code: line comments (and so doc comments) dropped, and its unit tests cut off.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line.split(" //").next().unwrap_or_default());
        code.push('\n');
    }
    code
}

/// The statements of `code` that begin with one of `starts` (after visibility), each up to
/// its `;`.
fn statements<'a>(code: &'a str, starts: &[&str]) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(|c: char| !c.is_whitespace()) {
        let from = &rest[at..];
        let end = from.find(['\n']).unwrap_or(from.len());
        let unvisible = strip_visibility(from);
        if starts.iter().any(|start| unvisible.starts_with(start)) {
            let stop = from.find(';').map_or(from.len(), |stop| stop + 1);
            found.push(&from[..stop]);
            rest = &from[stop..];
        } else {
            rest = &from[end..];
        }
    }
    found
}

fn strip_visibility(text: &str) -> &str {
    let text = text.trim_start();
    let Some(rest) = text.strip_prefix("pub") else {
        return text;
    };
    let rest = rest.trim_start();
    match rest.strip_prefix('(') {
        Some(inner) => inner
            .split_once(')')
            .map_or(rest, |(_, after)| after.trim_start()),
        None => rest,
    }
}

/// The first path segment of each item a `use` tree names: `a::{b, c::D}` gives `a`;
/// `{A, b::C}` gives `A` and `b`.
fn first_segments(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{') {
        let inner = inner.rsplit_once('}').map_or(inner, |(inside, _)| inside);
        let mut items = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        return items
            .into_iter()
            .flat_map(|item| first_segments(item.trim()))
            .collect();
    }
    let word: String = tree
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() {
        Vec::new()
    } else {
        vec![word]
    }
}

/// The last segments of the items a `use` tree brings in (their names as imported, renames
/// aside): `a::{B, c::D}` gives `B` and `D`.
fn imported_names(tree: &str) -> Vec<String> {
    let tree = tree.trim().trim_end_matches(';').trim();
    if let Some((_, rest)) = tree.split_once('{') {
        let inner = rest.rsplit_once('}').map_or(rest, |(inside, _)| inside);
        return inner
            .split(',')
            .flat_map(|item| imported_names(item.trim()))
            .collect();
    }
    let name = tree.rsplit("::").next().unwrap_or_default().trim();
    let name = name.rsplit(" as ").next().unwrap_or(name).trim();
    if name.is_empty() || name == "self" || name == "*" {
        Vec::new()
    } else {
        vec![name.to_owned()]
    }
}

/// The names `code` defines at the start of a line (functions, types, constants, statics).
fn defined_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let mut rest = strip_visibility(line);
        rest = rest.strip_prefix("async ").unwrap_or(rest);
        for keyword in [
            "const ", "struct ", "enum ", "fn ", "type ", "trait ", "static ",
        ] {
            if let Some(after) = rest.strip_prefix(keyword) {
                names.extend(first_segments(after));
            }
        }
    }
    names
}

/// Everything that follows each `super::` (or `prefix`, the folder's own path from the
/// crate root) in `code`, as the first segments it names.
fn super_names(code: &str, prefix: &str) -> Vec<String> {
    let mut names = names_after(code, "super::");
    names.extend(names_after(code, prefix));
    names
}

fn names_after(code: &str, prefix: &str) -> Vec<String> {
    code.match_indices(prefix)
        .flat_map(|(at, found)| {
            let after = &code[at + found.len()..];
            let tree = if after.starts_with('{') {
                let mut depth = 0;
                let end = after
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(after.len(), |(i, _)| i + 1);
                &after[..end]
            } else {
                after
            };
            first_segments(tree)
        })
        .collect()
}

/// Whether `code` names `module::` as a path of its own (not as the tail of another path).
fn uses_path(code: &str, module: &str) -> bool {
    let needle = format!("{module}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].strip_suffix("self::").unwrap_or(&code[..at]);
        before
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
    })
}

/// `crate::a::b::` for the folder `src/a/b`.
fn crate_path(folder: &Path) -> String {
    let mut parts = Vec::new();
    for part in folder.iter().rev() {
        if part == "src" {
            break;
        }
        parts.push(part.to_string_lossy().into_owned());
    }
    parts.reverse();
    format!("crate::{}::", parts.join("::"))
}

/// The import edges among the files of `folder` (`mod` stands for `mod.rs`).
fn folder_edges(folder: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut children = BTreeSet::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let folder_module = path.is_dir() && path.join("mod.rs").is_file();
        let file_module =
            path.extension().is_some_and(|e| e == "rs") && stem != "mod" && stem != "tests";
        if folder_module || file_module {
            children.insert(stem.to_owned());
        }
    }
    let prefix = crate_path(folder);
    let module = code_of(&folder.join("mod.rs"));
    let defined = defined_names(&module);
    let mut homes = BTreeMap::new();
    for statement in statements(&module, &["use "]) {
        let unvisible = strip_visibility(statement);
        if unvisible.len() == statement.trim_start().len() {
            continue; // a private `use` is code that uses the child: counted below
        }
        let tree = unvisible
            .trim_start_matches("use ")
            .trim_start_matches("self::");
        if let Some(home) = first_segments(tree)
            .first()
            .filter(|h| children.contains(*h))
        {
            for name in imported_names(tree) {
                homes.insert(name, home.clone());
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // mod.rs's own code (declarations and re-exports aside) using a child.
    let mut body = module.clone();
    for statement in statements(&module, &["use ", "mod "]) {
        let public_use = strip_visibility(statement).starts_with("use ")
            && strip_visibility(statement).len() != statement.trim_start().len();
        let declaration = strip_visibility(statement).starts_with("mod ");
        if public_use || declaration {
            body = body.replacen(statement, "", 1);
        }
    }
    for child in &children {
        if uses_path(&body, child) {
            edges.entry("mod".into()).or_default().insert(child.clone());
        }
    }
    for child in &children {
        let path = if folder.join(child).is_dir() {
            folder.join(child).join("mod.rs")
        } else {
            folder.join(format!("{child}.rs"))
        };
        let code = code_of(&path);
        for name in super_names(&code, &prefix) {
            let target = if children.contains(&name) {
                Some(name)
            } else if let Some(home) = homes.get(&name) {
                Some(home.clone())
            } else if defined.contains(&name) {
                Some("mod".to_owned())
            } else {
                None
            };
            if let Some(target) = target.filter(|t| t != child) {
                edges.entry(child.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// A cycle in `edges`, as the files around it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}
