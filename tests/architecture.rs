//! The map stays true: `ARCHITECTURE.md` names every module under `src/` and every file
//! under `chapters/`, and names no Rust file that is not there (the README once cited a
//! `src/notebook.rs` long after it had become a folder).

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
    let known: Vec<String> = ["src", "chapters", "tests", "benches"]
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
