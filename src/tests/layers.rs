//! The crate's floors: every module uses only modules on floors below its
//! own, so no import circle can form and no room reaches upward. Read from
//! the source itself: every `crate::<module>` path in every file.

use std::collections::BTreeSet;
use std::path::Path;

/// Floors from the ground up; modules on one floor do not use each other.
const FLOORS: &[&[&str]] = &[
    &["model", "error", "sql_args", "settings"],
    &["pg"],
    &["config"],
    &["store"],
    &["source"],
    &["audit"],
    &["formats", "redaction"],
    &["training"],
    &["export"],
    &["jobs"],
    &["api"],
];

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

/// Every top-level module a file's code names as `crate::<module>`.
fn used_modules(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .flat_map(|code| code.split("crate::").skip(1).map(str::to_string))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source tree is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each `(file, module it uses)` that is not strictly below the file's module.
fn upward_uses(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_string())
            .unwrap_or_default();
        if top == "lib" || top == "tests" {
            continue;
        }
        let own = floor(&top).unwrap_or_else(|| panic!("module {top} has no floor"));
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for used in used_modules(&text) {
            if used == top || used == "tests" {
                continue;
            }
            let Some(theirs) = floor(&used) else {
                found.push(format!("{}: unknown module {used}", relative.display()));
                continue;
            };
            if theirs >= own {
                found.push(format!("{} uses {used}", relative.display()));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_floors_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_eq!(upward_uses(&src), Vec::<String>::new());
}

#[test]
fn an_upward_use_is_found() {
    assert_eq!(
        used_modules("use crate::export::stream; // crate::jobs\nlet x = crate::store::logs::f();"),
        BTreeSet::from(["export".to_string(), "store".to_string()])
    );
}
