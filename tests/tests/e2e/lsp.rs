//! `krl lsp` driven over stdio as an editor drives it: initialize with a
//! workspace folder, open and change a document (diagnostics as `krl
//! check` gives them), hover, definition, references, completion,
//! document symbols, formatting, shutdown and exit. Positions are 0-based
//! lines and UTF-16 columns, as the protocol has them.

use krl_tests::lsp::Client;
use krl_tests::{krl, ScratchDir};
use serde_json::{json, Value};

const LIB: &str = r#"ruleset io.example.lib {
  meta {
    provides greet
  }

  global {
    greet = function(name) { "Hello, " + name }
  }
}
"#;

const APP: &str = r#"ruleset io.example.app {
  meta {
    use module io.example.lib alias lib
    shares total
  }

  global {
    total = function() { ent:count.defaultsTo(0) }
  }

  rule hello {
    select when echo hello
    pre {
      msg = lib:greet("world")
    }
    send_directive("say", {"msg": msg})
    fired {
      ent:count := total() + 1;
      raise echo event "done"
    }
  }

  rule done {
    select when echo done
    twilio:say("bye") with voice = "alice"
  }
}
"#;

fn pos(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

/// `krl check`'s first diagnostic of `src`: 0-based line and column,
/// severity word and message.
fn check_says(dir: &ScratchDir, src: &str) -> (u32, u32, String, String) {
    let f = dir.file("probe.krl", src);
    let out = krl().arg("check").arg(&f).output().expect("krl check");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = err.lines().next().expect("a diagnostic");
    let rest = first
        .strip_prefix(&format!("{}:", f.display()))
        .expect("file:line:col");
    let mut parts = rest.splitn(4, ':');
    let line: u32 = parts.next().unwrap().parse().unwrap();
    let col: u32 = parts.next().unwrap().parse().unwrap();
    let sev = parts.next().unwrap().trim().to_string();
    let msg = parts.next().unwrap().trim().to_string();
    std::fs::remove_file(f).unwrap();
    (line - 1, col - 1, sev, msg)
}

#[test]
fn an_editor_session() {
    let dir = ScratchDir::new("lsp");
    dir.file("lib.krl", LIB);
    let app_path = dir.file("app.krl", APP);
    let app = format!("file://{}", app_path.display());
    let lib = format!("file://{}/lib.krl", dir.path().display());
    let mut c = Client::start();
    let init = c.initialize(dir.path());
    assert_eq!(init["capabilities"]["hoverProvider"], json!(true), "{init}");
    assert_eq!(
        init["capabilities"]["textDocumentSync"],
        json!(1),
        "full synchronization"
    );
    assert_eq!(init["serverInfo"]["name"], json!("krl lsp"));

    // open: the warning `krl check --warnings` gives
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": app, "languageId": "krl", "version": 1, "text": APP}}),
    );
    let classic = json!([{
        "range": range(24, 27, 24, 42),
        "severity": 2,
        "source": "krl",
        "message": "classic `with` modifiers: write them as named arguments, `action(arg, name = value)`"
    }]);
    assert_eq!(json!(c.diagnostics(&app)), classic);

    // a syntax error and a compile error, as krl check reports them
    let probe = ScratchDir::new("lsp-probe");
    for (v, broken) in [
        (
            2,
            APP.replace("msg = lib:greet(\"world\")", "msg = lib:greet(\"world\") +"),
        ),
        (3, APP.replace("defaultsTo(0)", "defaultsTo(0).lenght()")),
        (4, APP.replace("twilio:say(\"bye\")", "twilio:sya(\"bye\")")),
    ] {
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": app, "version": v},
                   "contentChanges": [{"text": broken}]}),
        );
        let d = c.diagnostics(&app);
        let (line, col, sev, msg) = check_says(&probe, &broken);
        assert_eq!(sev, "error");
        let e = d
            .iter()
            .find(|e| e["severity"] == json!(1))
            .unwrap_or_else(|| panic!("an error in {d:?}"));
        assert_eq!(e["message"], json!(msg), "{d:?}");
        assert_eq!(e["range"]["start"], json!({"line": line, "character": col}));
        assert_eq!(e["source"], json!("krl"));
    }
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 5}, "contentChanges": [{"text": APP}]}),
    );
    assert_eq!(json!(c.diagnostics(&app)), classic);

    // hover: a native module's member, from the registry
    let h = c.request("textDocument/hover", pos(&app, 24, 12));
    assert_eq!(
        h["contents"]["value"],
        json!("```krl\ntwilio:say()\n```\n\na TwiML verb (docs/twilio.md)\n\n`with` voice, language, loop\n\n(an action)")
    );
    assert_eq!(h["range"], range(24, 4, 24, 14));
    // hover: an entity variable's writers
    let h = c.request("textDocument/hover", pos(&app, 7, 28));
    assert_eq!(
        h["contents"]["value"],
        json!("entity variable `ent:count` of io.example.app, written by rule `hello` of io.example.app")
    );
    // hover: a module's function through its alias
    let h = c.request("textDocument/hover", pos(&app, 13, 18));
    assert_eq!(
        h["contents"]["value"],
        json!("```krl\ngreet = function(name) { \"Hello, \" + name }\n```\n\nfunction `greet`")
    );

    // definition: across files through the alias; a pre variable; the
    // rule a raised event selects
    let d = c.request("textDocument/definition", pos(&app, 13, 18));
    assert_eq!(d, json!([{"uri": lib, "range": range(6, 4, 6, 9)}]));
    let d = c.request("textDocument/definition", pos(&app, 15, 35));
    assert_eq!(d, json!([{"uri": app, "range": range(13, 6, 13, 9)}]));
    let d = c.request("textDocument/definition", pos(&app, 18, 13));
    assert_eq!(d, json!([{"uri": app, "range": range(22, 7, 22, 11)}]));

    // references: a global (its share and its call), with the declaration
    let mut params = pos(&app, 7, 5);
    params["context"] = json!({"includeDeclaration": true});
    let r = c.request("textDocument/references", params);
    assert_eq!(
        r,
        json!([
            {"uri": app, "range": range(7, 4, 7, 9)},
            {"uri": app, "range": range(3, 11, 3, 16)},
            {"uri": app, "range": range(17, 19, 17, 24)},
        ])
    );
    // references of a module's global: its `provides`, its uses in other
    // rulesets through their aliases
    let mut params = pos(&lib, 6, 5);
    params["context"] = json!({"includeDeclaration": false});
    let r = c.request("textDocument/references", params);
    assert_eq!(
        r,
        json!([
            {"uri": lib, "range": range(2, 13, 2, 18)},
            {"uri": app, "range": range(13, 12, 13, 21)},
        ])
    );

    // completion: members after `domain:`, event domains and types,
    // a twilio verb's attributes, names in scope
    let labels = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("a list of items")
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let edited = APP.replace("msg = lib:greet(\"world\")", "msg = time:");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 6}, "contentChanges": [{"text": edited}]}),
    );
    let items = c.request("textDocument/completion", pos(&app, 13, 17));
    let l = labels(&items);
    assert!(
        l.contains(&"now".to_string()) && l.contains(&"strftime".to_string()),
        "{l:?}"
    );
    let edited = APP.replace("msg = lib:greet(\"world\")", "msg = ent:");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 6}, "contentChanges": [{"text": edited}]}),
    );
    assert_eq!(
        labels(&c.request("textDocument/completion", pos(&app, 13, 16))),
        ["count"]
    );
    let edited = APP.replace("select when echo done", "select when ");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 7}, "contentChanges": [{"text": edited}]}),
    );
    assert_eq!(
        labels(&c.request("textDocument/completion", pos(&app, 23, 16))),
        ["echo"]
    );
    let edited = APP.replace("select when echo done", "select when echo ");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 8}, "contentChanges": [{"text": edited}]}),
    );
    assert_eq!(
        labels(&c.request("textDocument/completion", pos(&app, 23, 21))),
        ["done", "hello"]
    );
    let edited = APP.replace("with voice = \"alice\"", "with ");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 9}, "contentChanges": [{"text": edited}]}),
    );
    assert_eq!(
        labels(&c.request("textDocument/completion", pos(&app, 24, 27))),
        ["voice", "language", "loop"]
    );
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 10}, "contentChanges": [{"text": APP}]}),
    );
    let l = labels(&c.request("textDocument/completion", pos(&app, 15, 34)));
    for name in ["msg", "total", "lib", "send_directive", "time"] {
        assert!(l.contains(&name.to_string()), "{name} in {l:?}");
    }

    // the outline
    let s = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": app}}),
    );
    assert_eq!(s[0]["name"], json!("io.example.app"));
    let children: Vec<&str> = s[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["total", "hello", "done"]);

    // formatting: the whole document as krl fmt writes it
    let messy = APP.replace(
        "  rule done {\n    select",
        "  rule done {\n\n        select",
    );
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": app, "version": 11}, "contentChanges": [{"text": messy}]}),
    );
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": app}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(
        edits,
        json!([{"range": range(0, 0, 28, 0), "newText": APP}])
    );

    // shutdown, exit
    assert_eq!(c.request("shutdown", Value::Null), Value::Null);
    c.notify("exit", Value::Null);
    let status = c.wait();
    assert!(status.success(), "{status:?}");
}
