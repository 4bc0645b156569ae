//! Golden tests over the case corpus in `grammar/cases/`.
//!
//! * `ok/*.krl` — valid rulesets, one construct (or a few related ones) per
//!   file. Each must parse, pass `check_ruleset` without errors, and its
//!   AST (as JSON, spans written `"start..end"`) must equal the snapshot in
//!   `tests/snapshots/`. The spans are also sanity-checked: every span lies
//!   inside the source and inside its parent's span, and every identifier's
//!   span covers exactly its name.
//! * `err/*.krl` — rulesets with one mistake each. Each must be rejected
//!   (by the parser, or else by the checker) and the rendered diagnostics
//!   must equal the snapshot. These snapshots record the current wording;
//!   `syntax_errors.rs` states what the position and wording must be.
//!
//! Update the snapshots after a deliberate change with
//! `INSTA_UPDATE=always cargo test -p krl-lang --test golden` (or
//! `cargo insta review`), then read the diff. With `CI=true` a mismatch
//! fails and nothing is written.

use krl_lang::engine::check as check_ruleset;
use krl_lang::syntax::ast::{ExprKind, Ruleset, StmtKind};
use krl_lang::syntax::{parse_ruleset, Diagnostic};
use serde_json::{Map, Value};
use std::fs;
use std::path::Path;

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("case files have UTF-8 names")
}

fn render_all(diags: &[Diagnostic], name: &str, src: &str) -> String {
    diags.iter().map(|d| d.render(name, src)).collect()
}

#[test]
fn ok_cases() {
    insta::glob!("../../../grammar/cases", "ok/*.krl", |path| {
        let src = read(path);
        let name = format!("ok/{}", file_name(path));
        let ruleset = match parse_ruleset(&src) {
            Ok(rs) => rs,
            Err(d) => panic!("{name} must parse:\n{}", d.render(&name, &src)),
        };
        let errors: Vec<Diagnostic> = check_ruleset(&ruleset)
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        assert!(
            errors.is_empty(),
            "{name} must pass the checks:\n{}",
            render_all(&errors, &name, &src)
        );
        // and compile as registration does (what `krl check` also runs)
        if let Err(errors) = krl_lang::engine::compile_ast(&ruleset, &src) {
            panic!("{name} must compile:\n{}", render_all(&errors, &name, &src));
        }
        let json = serde_json::to_value(&ruleset).expect("the AST serialises");
        check_spans(&json, &src, &name);
        insta::assert_json_snapshot!(compact_spans(json));
    });
}

#[test]
fn err_cases() {
    insta::glob!("../../../grammar/cases", "err/*.krl", |path| {
        let src = read(path);
        let name = format!("err/{}", file_name(path));
        let rendered = match parse_ruleset(&src) {
            Err(d) => d.render(&name, &src),
            Ok(rs) => {
                let errors: Vec<Diagnostic> = check_ruleset(&rs)
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect();
                assert!(!errors.is_empty(), "{name} must be rejected");
                render_all(&errors, &name, &src)
            }
        };
        insta::assert_snapshot!(rendered);
    });
}

fn parse_ok_case(file: &str) -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../grammar/cases/ok")
        .join(file);
    let src = read(&path);
    parse_ruleset(&src).unwrap_or_else(|d| panic!("{}", d.render(file, &src)))
}

#[test]
fn defaction_configure_stops_before_body_declarations() {
    let rs = parse_ok_case("defaction_classic_configure_body.krl");
    let ExprKind::Defaction { params, body, .. } = &rs.global[0].value.kind else {
        panic!("`notify` is a defaction");
    };
    let params: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
    let body: Vec<&str> = body.iter().map(|d| d.name.name.as_str()).collect();
    assert_eq!(params, ["to", "loud", "prefix"]);
    assert_eq!(body, ["text"]);
}

#[test]
fn raise_with_stops_before_next_declaration() {
    let rs = parse_ok_case("postlude_raise_with_then_decl.krl");
    let stmts = &rs.rules[0].postlude.as_ref().expect("a postlude").body;
    assert_eq!(stmts.len(), 3, "raise, declaration, assignment");
    let StmtKind::Raise { event, .. } = &stmts[0].kind else {
        panic!("the first statement is the raise");
    };
    let Some(ExprKind::Map { entries }) = event.attributes.as_ref().map(|a| &a.kind) else {
        panic!("classic `with` becomes an attribute map");
    };
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["id", "source"]);
    assert!(matches!(&stmts[1].kind, StmtKind::Decl(d) if d.name.name == "note"));
}

/// A node's span should end at its last token. Today many end after the
/// whitespace and comments that follow (`x = 1 // note` gives the
/// declaration the span `x = 1 // note\n  `).
#[test]
fn spans_end_at_the_last_token() {
    fn walk(v: &Value, src: &str, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some((s, e)) = map
                    .get("span")
                    .and_then(|s| s.as_object())
                    .and_then(as_span)
                {
                    let text = &src[s as usize..e as usize];
                    if text.trim_end() != text || text.trim_end().ends_with("*/") {
                        out.push(format!("{path}: {text:?}"));
                    }
                }
                for (k, child) in map {
                    walk(child, src, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, src, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammar/cases/ok");
    let mut bad = Vec::new();
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("ok case directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "krl"))
        .collect();
    files.sort();
    for path in files {
        let src = read(&path);
        let Ok(rs) = parse_ruleset(&src) else {
            continue;
        };
        let json = serde_json::to_value(&rs).expect("the AST serialises");
        walk(&json, &src, file_name(&path), &mut bad);
    }
    assert!(
        bad.is_empty(),
        "{} spans end in whitespace or a comment, e.g.\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

/// Every snapshot of this test belongs to a case that still exists, so a
/// renamed or deleted case does not leave a stale golden file behind.
#[test]
fn no_orphan_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = root.join("../../grammar/cases");
    let mut orphans = Vec::new();
    for entry in fs::read_dir(root.join("tests/snapshots")).expect("snapshot directory") {
        let path = entry.expect("directory entry").path();
        let name = file_name(&path).to_string();
        // `golden__ok_cases@a.krl.snap` is the snapshot of `ok/a.krl`
        let Some(rest) = name.strip_prefix("golden__") else {
            continue;
        };
        let Some((test, case)) = rest.split_once('@') else {
            continue;
        };
        let Some(case) = case.strip_suffix(".snap") else {
            continue; // .snap.new and other leftovers
        };
        let dir = match test {
            "ok_cases" => "ok",
            "err_cases" => "err",
            _ => continue,
        };
        let case = format!("{dir}/{case}");
        if !cases.join(&case).is_file() {
            orphans.push(name);
        }
    }
    assert!(
        orphans.is_empty(),
        "snapshots without a case (delete them): {orphans:?}"
    );
}

/// `{"start": 3, "end": 9}` → `"3..9"`, recursively, so the snapshots stay
/// readable.
fn compact_spans(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            if let Some((s, e)) = as_span(&map) {
                return Value::String(format!("{s}..{e}"));
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, compact_spans(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact_spans).collect()),
        other => other,
    }
}

fn as_span(map: &Map<String, Value>) -> Option<(u64, u64)> {
    if map.len() != 2 {
        return None;
    }
    Some((map.get("start")?.as_u64()?, map.get("end")?.as_u64()?))
}

/// Spans lie within the source and within the nearest enclosing span;
/// identifiers' spans cover their names.
fn check_spans(root: &Value, src: &str, name: &str) {
    fn walk(v: &Value, parent: (u64, u64), src: &str, name: &str, path: &str) {
        match v {
            Value::Object(map) => {
                let mut here = parent;
                if let Some(span) = map
                    .get("span")
                    .and_then(|s| s.as_object())
                    .and_then(as_span)
                {
                    let (s, e) = span;
                    assert!(
                        s <= e && e as usize <= src.len(),
                        "{name}: bad span {s}..{e} at {path}"
                    );
                    assert!(
                        parent.0 <= s && e <= parent.1,
                        "{name}: span {s}..{e} at {path} is outside its parent {}..{}",
                        parent.0,
                        parent.1
                    );
                    if let (Some(Value::String(ident)), 2) = (map.get("name"), map.len()) {
                        assert_eq!(
                            &src[s as usize..e as usize],
                            ident,
                            "{name}: identifier span at {path}"
                        );
                    }
                    here = span;
                }
                for (k, child) in map {
                    if k != "span" {
                        walk(child, here, src, name, &format!("{path}.{k}"));
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, parent, src, name, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }
    walk(root, (0, src.len() as u64), src, name, "$");
}
