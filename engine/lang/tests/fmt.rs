//! `krl fmt` over every ruleset the project has: `rulesets/`, the golden
//! corpus (`grammar/cases/`, `grammar/cases/ok/`, `grammar/cases/err/`)
//! and this crate's test fixtures. For each file that parses, formatting
//! leaves the AST without its spans unchanged, formatting the output again
//! changes nothing, and the checker's diagnostics (severity and message)
//! are the same before and after. `rulesets/` is formatted already.

use krl_lang::engine::check;
use krl_lang::fmt::format;
use krl_lang::syntax::parse_ruleset;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn krl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "krl"))
        .collect();
    out.sort();
    out
}

fn without_spans(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| k != "span")
                .map(|(k, v)| (k, without_spans(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_spans).collect()),
        v => v,
    }
}

/// The AST without spans and the diagnostics without positions.
fn meaning(src: &str) -> (Value, Vec<String>) {
    let ast = parse_ruleset(src).expect("parses");
    let diags = check(&ast)
        .iter()
        .map(|d| format!("{:?}: {}", d.severity, d.message))
        .collect();
    (
        without_spans(serde_json::to_value(&ast).expect("the AST is JSON")),
        diags,
    )
}

/// Checks one file; `Some(changed)` when it parses, `None` when not.
fn check_file(path: &Path) -> Option<bool> {
    let src = std::fs::read_to_string(path).expect("readable");
    if parse_ruleset(&src).is_err() {
        assert!(
            format(&src).is_err(),
            "{}: formatted a syntax error",
            path.display()
        );
        return None;
    }
    let out = format(&src).unwrap_or_else(|e| panic!("{}: {}", path.display(), e.message));
    let name = path.display();
    assert_eq!(
        meaning(&out),
        meaning(&src),
        "{name}: the AST or the diagnostics changed"
    );
    assert_eq!(format(&out).expect("parses"), out, "{name}: not idempotent");
    Some(out != src)
}

#[test]
fn shipped_rulesets_are_formatted() {
    let files = krl_files(&root().join("rulesets"));
    assert!(files.len() >= 8);
    for f in files {
        assert_eq!(
            check_file(&f),
            Some(false),
            "{}: run krl fmt rulesets/",
            f.display()
        );
    }
}

#[test]
fn golden_corpus_keeps_its_meaning() {
    let r = root();
    let dirs = [
        r.join("grammar/cases"),
        r.join("grammar/cases/ok"),
        r.join("grammar/cases/err"),
        r.join("engine/lang/tests/fixtures"),
    ];
    let (mut parsed, mut changed, mut rejected) = (0, 0, 0);
    for d in dirs {
        for f in krl_files(&d) {
            match check_file(&f) {
                Some(c) => {
                    parsed += 1;
                    changed += usize::from(c);
                }
                None => rejected += 1,
            }
        }
    }
    // the corpus as it is today: most of it parses, the formatter
    // changes most of it
    assert!(parsed >= 80, "{parsed} parsed, {rejected} syntax errors");
    assert!(changed > 0);
}
