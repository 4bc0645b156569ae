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

mod relaid {
    //! Property: a ruleset laid out anew (its spaces replaced by other
    //! whitespace or comments) formats to the same AST, and formatting
    //! that is idempotent.

    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::sync::OnceLock;

    fn corpus() -> &'static [String] {
        static C: OnceLock<Vec<String>> = OnceLock::new();
        C.get_or_init(|| {
            let r = root();
            [r.join("rulesets"), r.join("grammar/cases/ok")]
                .iter()
                .flat_map(|d| krl_files(d))
                .map(|f| std::fs::read_to_string(f).expect("readable"))
                .filter(|s| parse_ruleset(s).is_ok())
                .collect()
        })
    }

    const LAYOUT: &[&str] = &[
        "",
        "  ",
        "\n",
        "\n\n\n",
        "\t",
        " /* c */ ",
        "/**/",
        " // c\n",
        "\n  // c\n  ",
    ];

    fn relay(src: &str, at: &[(Index, Index)]) -> String {
        let spaces: Vec<usize> = src
            .char_indices()
            .filter(|(_, c)| *c == ' ' || *c == '\n')
            .map(|(i, _)| i)
            .collect();
        if spaces.is_empty() {
            return src.to_string();
        }
        let mut picks: Vec<(usize, &str)> = at
            .iter()
            .map(|(p, l)| (spaces[p.index(spaces.len())], LAYOUT[l.index(LAYOUT.len())]))
            .collect();
        picks.sort_by_key(|p| std::cmp::Reverse(p.0));
        picks.dedup_by_key(|p| p.0);
        let mut s = src.to_string();
        for (i, with) in picks {
            // keep a separator where one is needed
            let with = if with.is_empty() { " " } else { with };
            s.replace_range(i..i + 1, with);
        }
        s
    }

    proptest! {
        // PROPTEST_CASES=5000 for a longer run
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
            ..ProptestConfig::default()
        })]
        #[test]
        fn relaid_rulesets_format_to_the_same_ast(
            file in any::<Index>(),
            at in proptest::collection::vec((any::<Index>(), any::<Index>()), 1..12),
        ) {
            let c = corpus();
            let src = &c[file.index(c.len())];
            let relaid = relay(src, &at);
            // a change inside a string literal changes the ruleset: skip
            prop_assume!(parse_ruleset(&relaid).is_ok());
            prop_assume!(meaning(&relaid) == meaning(src));
            let out = format(&relaid).expect("parses");
            prop_assert_eq!(meaning(&out), meaning(src));
            prop_assert_eq!(format(&out).expect("parses"), out);
        }
    }
}
