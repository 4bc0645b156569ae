//! Every request at many positions of every shipped ruleset and golden
//! case answers without failing (the e2e test, tests/tests/e2e/lsp.rs,
//! holds the answers' contents).

use super::State;
use lsp_server::{Notification, Request, RequestId};
use serde_json::json;
use std::path::Path;

#[test]
fn every_request_everywhere_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut state = State::default();
    state.scan(&root.join("rulesets"));
    let mut files: Vec<_> = ["rulesets", "grammar/cases/ok", "grammar/cases/err"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("a corpus folder"))
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "krl"))
        .collect();
    files.sort();
    let mut id = 0;
    let mut answered = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        let uri = lsp_types::Url::from_file_path(f.canonicalize().expect("a path")).unwrap();
        let out = state.notification(Notification::new(
            "textDocument/didOpen".into(),
            json!({"textDocument": {"uri": uri, "languageId": "krl", "version": 1, "text": text}}),
        ));
        assert_eq!(out.len(), 1, "diagnostics for {}", f.display());
        let lines = text.lines().count() as u32;
        for line in (0..lines).step_by(3) {
            for character in [0, 4, 7, 12, 20] {
                let pos = json!({"textDocument": {"uri": uri},
                                 "position": {"line": line, "character": character}});
                let mut refs = pos.clone();
                refs["context"] = json!({"includeDeclaration": true});
                for (method, params) in [
                    ("textDocument/hover", pos.clone()),
                    ("textDocument/definition", pos.clone()),
                    ("textDocument/references", refs),
                    ("textDocument/completion", pos.clone()),
                ] {
                    id += 1;
                    let r = state.request(Request::new(RequestId::from(id), method.into(), params));
                    assert!(
                        r.error.is_none(),
                        "{method} {line}:{character} of {}",
                        f.display()
                    );
                    answered += 1;
                }
            }
        }
        for method in ["textDocument/documentSymbol", "textDocument/formatting"] {
            id += 1;
            let params = json!({"textDocument": {"uri": uri},
                                "options": {"tabSize": 2, "insertSpaces": true}});
            let r = state.request(Request::new(RequestId::from(id), method.into(), params));
            assert!(r.error.is_none(), "{method} of {}", f.display());
        }
    }
    assert!(answered > 1000, "{answered}");
}
