//! How long `krl lsp` takes to publish diagnostics after a change to a
//! 2,000-line ruleset, measured as an editor sees it: over stdio, from
//! sending `textDocument/didChange` (the whole text) to reading the
//! `textDocument/publishDiagnostics` that answers it. Prints the median,
//! the fastest and the slowest of 40 changes (after 5 to warm up).
//!
//! ```sh
//! cargo build -p krl && cargo run -q -p krl-tests --bin krl-lsp-bench
//! KRL_BIN=path/to/krl cargo run -q -p krl-tests --bin krl-lsp-bench
//! ```
//!
//! Without `KRL_BIN` it runs the `krl` beside it (`target/<profile>/krl`,
//! built by the first command).
//!
//! ```text
//! ```

use krl_tests::lsp::Client;
use krl_tests::ScratchDir;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Instant;

/// A ruleset of about `lines` lines: globals, then rules with a select, a
/// prelude, an action and a postlude, with a `marker` to change.
fn ruleset(lines: usize, marker: usize) -> String {
    let mut s =
        String::from("ruleset io.example.big {\n  meta {\n    shares total\n  }\n\n  global {\n");
    for g in 0..40 {
        writeln!(s, "    g{g} = function(x) {{ x + {g} }}").unwrap();
    }
    s.push_str("    total = function() { ent:count.defaultsTo(0) }\n  }\n");
    let mut r = 0;
    while s.lines().count() + 16 < lines {
        write!(
            s,
            r#"
  rule r{r} {{
    select when shop item{r} where event:attrs{{"n"}} > {r}
    pre {{
      n = event:attrs{{"n"}}.as("Number")
      label = "item #{{n}} of {r}: " + g{g}(n)
      parts = [n, label, {{"a": n, "b": [1, 2, 3]}}]
    }}
    if n > 1 then
      send_directive("item", {{"label": label, "parts": parts, "m": {marker}}})
    fired {{
      ent:count := total() + 1;
      raise shop event "done" attributes {{"r": {r}}}
    }} else {{
      ent:misses := ent:misses.defaultsTo(0) + 1
    }}
  }}
"#,
            g = r % 40
        )
        .unwrap();
        r += 1;
    }
    s.push_str("}\n");
    s
}

fn main() {
    let dir = ScratchDir::new("lsp-bench");
    let bin = std::env::var_os("KRL_BIN").map_or_else(
        || {
            let me = std::env::current_exe().expect("the bench's path");
            me.with_file_name("krl")
        },
        std::path::PathBuf::from,
    );
    let mut c = Client::start_with(&bin);
    c.initialize(dir.path());
    let uri = format!("file://{}/big.krl", dir.path().display());
    let text = ruleset(2000, 0);
    let lines = text.lines().count();
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "krl", "version": 0, "text": text}}),
    );
    assert_eq!(
        c.diagnostics(&uri),
        Vec::<serde_json::Value>::new(),
        "the ruleset checks"
    );
    let mut times = Vec::new();
    for v in 1..=45 {
        let text = ruleset(2000, v);
        let t = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": text}]}),
        );
        let d = c.diagnostics(&uri);
        let dt = t.elapsed();
        assert!(d.is_empty(), "{d:?}");
        if v > 5 {
            times.push(dt);
        }
    }
    c.request("shutdown", serde_json::Value::Null);
    c.notify("exit", serde_json::Value::Null);
    c.wait();
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "diagnostics after a change, {lines} lines, {} changes: median {:.1} ms, fastest {:.1} ms, slowest {:.1} ms ({})",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        bin.display()
    );
}
