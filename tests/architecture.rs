//! The map stays true: `ARCHITECTURE.md` names every module under `src/` and every file
//! under `chapters/`, and names no Rust file that is not there (the README once cited a
//! `src/notebook.rs` long after it had become a folder); and the library's top-level
//! modules stand in layers, no import running back up (no two of them reach each other).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files below `dir`, as paths relative to it with `/` between folders.
fn rust_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable source folder") {
            let path = entry.expect("a readable entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(dir).expect("below the folder");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md is there")
}

#[test]
fn the_map_names_every_module_and_chapter() {
    let map = architecture();
    let mut unnamed = Vec::new();
    for (folder, files) in [
        ("src", rust_files(&root().join("src"))),
        ("chapters", rust_files(&root().join("chapters"))),
        ("replicate/src", rust_files(&root().join("replicate/src"))),
    ] {
        assert!(files.len() > 5, "{folder}: too few files found: {files:?}");
        for file in files {
            if !map.contains(&format!("`{file}`")) {
                unnamed.push(format!("{folder}/{file}"));
            }
        }
    }
    assert!(
        unnamed.is_empty(),
        "ARCHITECTURE.md does not name {unnamed:?}: add each to its code map"
    );
}

#[test]
fn the_map_names_no_file_that_is_gone() {
    let map = architecture();
    // Each file by its path in its folder and by its path from the root.
    let known: Vec<String> = [
        "src",
        "chapters",
        "tests",
        "benches",
        "replicate/src",
        "replicate/tests",
        "replicate/benches",
    ]
    .into_iter()
    .flat_map(|folder| {
        rust_files(&root().join(folder))
            .into_iter()
            .flat_map(move |file| [format!("{folder}/{file}"), file])
    })
    .collect();
    let named: Vec<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.ends_with(".rs") && !s.contains(' '))
        // `chapter-N.rs` stands for any chapter ("Adding a notebook").
        .filter(|s| !s.ends_with("-N.rs"))
        .collect();
    assert!(named.len() > 30, "too few file names read: {named:?}");
    let gone: Vec<&&str> = named
        .iter()
        .filter(|name| {
            let bare = name.rsplit_once('/').map_or(**name, |(_, file)| file);
            !known
                .iter()
                .any(|k| k == *name || k.ends_with(&format!("/{name}")) || k == bare)
        })
        .collect();
    assert!(
        gone.is_empty(),
        "ARCHITECTURE.md names files that are not there: {gone:?}"
    );
}

/// The top-level modules of `src/` each file's code (not its comments) names through
/// `crate::`, by the importing file's own top-level module.
fn module_imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut imports =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for file in rust_files(&root().join("src")) {
        let module = file
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(root().join("src").join(&file)).unwrap();
        let uses = imports.entry(module.clone()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    uses.insert(name);
                }
            }
        }
    }
    imports
}

#[test]
fn no_import_runs_back_up() {
    let imports = module_imports();
    assert!(
        imports["notebook"].contains("ipynb") && imports["ipynb"].contains("record"),
        "the imports were read: {imports:?}"
    );
    // A module that reaches itself through others is a loop: some import runs back up.
    for start in imports.keys() {
        let mut seen = std::collections::BTreeSet::new();
        let mut pending: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((module, path)) = pending.pop() {
            for next in imports.get(&module).into_iter().flatten() {
                assert!(
                    next != start,
                    "an import runs back up: {} -> {start}; move what both use down",
                    path.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    pending.push((next.clone(), longer));
                }
            }
        }
    }
}

/// The Python files embedded in `replicate`, by name.
fn python_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("replicate/python"))
        .expect("replicate/python is there")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".py"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_library_never_reaches_replicate_and_the_map_names_its_python() {
    // `replicate` stands on the library; nothing of the library or the chapters names it
    // (the report runs its binary).
    for folder in ["src", "chapters"] {
        for file in rust_files(&root().join(folder)) {
            let text = std::fs::read_to_string(root().join(folder).join(&file)).unwrap();
            assert!(
                !text.contains("crossent_replicate"),
                "{folder}/{file} imports the replicate crate: the library must not"
            );
        }
    }
    let map = architecture();
    let python = python_files();
    assert!(python.len() >= 4, "{python:?}");
    for name in python {
        assert!(
            map.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not name {name}"
        );
    }
}
