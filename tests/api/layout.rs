//! The code's map holds: the capability folders under `src/` depend on each other in one
//! order (ARCHITECTURE.md, "Where things live"), so there is no import circle between them.
//! A folder may use only folders below it in [`ORDER`]; `reports` and `ops` stand side by
//! side and use neither each other.

use std::path::Path;

/// Lowest first; folders of equal rank may not use each other.
const ORDER: &[(&str, u8)] = &[
    ("infra", 0),
    ("gateway", 1),
    ("cache", 2),
    ("events", 3),
    ("registration", 4),
    ("association", 5),
    ("reports", 6),
    ("ops", 6),
    ("startup", 7),
];

fn rank(folder: &str) -> Option<u8> {
    ORDER.iter().find(|(f, _)| *f == folder).map(|(_, r)| *r)
}

/// The top-level modules a source text names through `crate::…`, `crate::{…}` included.
fn crate_uses(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items at the group's top level: `a::b`, `c::{d, e}`, …
            let (mut depth, mut start) = (0usize, 0usize);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn capability_folders_use_only_the_folders_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let mut parts = relative.components();
        let (Some(first), Some(_)) = (parts.next(), parts.next()) else {
            continue; // lib.rs and main.rs sit above the folders
        };
        let folder = first.as_os_str().to_str().unwrap();
        let own = rank(folder).unwrap_or_else(|| panic!("{folder} is not in ORDER"));
        let source = std::fs::read_to_string(file).unwrap();
        for used in crate_uses(&source) {
            checked += 1;
            if used == folder {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                _ => wrong.push(format!("{} uses crate::{used}", relative.display())),
            }
        }
    }
    assert!(
        checked > 100,
        "the scan found only {checked} uses; is it reading src/?"
    );
    assert!(
        wrong.is_empty(),
        "uses against the order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_reads_plain_paths_and_groups() {
    let uses = crate_uses(
        "use crate::infra::db;\n// crate::startup in a comment\nuse crate::{cache::store, gateway::{Request, ApiError}};\nlet x = crate::events::http::f();",
    );
    assert_eq!(uses, ["infra", "cache", "gateway", "events"]);
}
