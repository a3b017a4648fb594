//! The core crate's modules stand on floors (docs/ARCHITECTURE.md draws them): a module may use
//! modules on lower floors only, so no import cycle can form. This reads the floors from the
//! document itself, so the drawing and the check cannot drift apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Floor of every top-level module, from the ```floors block of ARCHITECTURE.md (lines of
/// `N: module, module`).
fn floors() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("```floors\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```floors block");
    let mut out = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (n, mods) = line.split_once(':').expect("`N: module, module`");
        let n: usize = n.trim().parse().expect("a floor number");
        for m in mods.split(',') {
            assert!(
                out.insert(m.trim().to_string(), n).is_none(),
                "{m} listed twice"
            );
        }
    }
    out
}

/// The top-level module a source file belongs to (`generate/mod.rs` -> `generate`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level modules a source file names through `crate::`, comments left out.
fn uses(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b}`: the first path segment of each item.
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        } else {
            found.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    found.retain(|n| !n.is_empty());
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_use_points_to_a_lower_floor() {
    let floors = floors();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let Some(&floor) = floors.get(&module) else {
            wrong.push(format!("module `{module}` has no floor in ARCHITECTURE.md"));
            continue;
        };
        for used in uses(&std::fs::read_to_string(file).unwrap()) {
            match floors.get(&used) {
                // Items of the crate root (`crate::Result`, `crate::cpu_device`) stand below
                // every floor.
                None if !used.chars().next().unwrap().is_lowercase() || used == "cpu_device" => {}
                None => wrong.push(format!("{}: uses unknown module `{used}`", file.display())),
                Some(_) if used == module => {}
                Some(&f) if f < floor => {}
                Some(&f) => wrong.push(format!(
                    "{}: `{module}` (floor {floor}) uses `{used}` (floor {f})",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "floors broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_a_use_that_points_up() {
    assert_eq!(
        uses("use crate::train::x; // crate::eval\nlet a = crate::{plot::S, run};"),
        ["train", "plot", "run"]
    );
}
