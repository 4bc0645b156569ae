//! Property tests: the parser never panics and never hangs, whatever it is
//! given. Valid rulesets are mutated (bytes deleted, duplicated, swapped,
//! truncated; KRL tokens and random text inserted), and random text and
//! token soup are thrown at it too. Every result must come back within
//! [`HANG_LIMIT`]: an `Ok` is run through `check_ruleset` and its
//! diagnostics rendered, an `Err` is rendered, and spans must lie inside
//! the source.
//!
//! The case count defaults to 256 per property (a few seconds); a longer
//! run: `PROPTEST_CASES=200000 cargo test --release -p krl-lang --test
//! fuzz_parser`. Extra seed rulesets can be given as a `:`-separated list
//! of files or directories in `KRL_FUZZ_SEEDS`; `rulesets/*.krl` and
//! `grammar/cases/ok/*.krl` are always read when present.

use krl_lang::engine::check as check_ruleset;
use krl_lang::syntax::{parse_expr, parse_ruleset, Diagnostic};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::Duration;

/// A hang detector, not a performance bound: a parse of a few kilobytes
/// takes well under a millisecond. The largest inputs here (a 20,000-link
/// conditional chain, 180 KB) take about 2.5 s in a debug build on a
/// loaded 2-core machine, and over 5 s while the rest of the workspace's
/// tests run beside them; a real hang (or an exponential parse) never
/// finishes, so the limit leaves room for a busy CI machine.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// Original seeds covering most of the grammar, so the tests have material
/// even where no ruleset files are checked in.
const SEEDS: &[&str] = &[
    r##"ruleset io.example.fuzz.one {
  meta {
    name "Fuzz seed one"
    description <<A seed with #{"beestings"} and >\> escapes>>
    author "krl"
    logging on
    shares total, greet
    provides total
    use module io.example.lib alias lib with rate = 0.07 and cap = 10
  }
  global {
    rate = 0.07;
    total = function(price, qty = 1) {
      sub = price * qty;
      sub + sub * rate
    }
    greet = function(name) { "Hello, #{name.uc()}!" }
    shout = defaction(to, text = "hi") {
      msg = text.uc()
      send_directive("shout", {"to": to, "text": msg})
      return msg
    }
    items = [1, 2.5, .5, "three", null, true, false, {"k": [1, 2]}]
  }
  rule buy is active {
    select when shop buy item re#^(\w+)$#i price re#(\d+)# setting(item, price)
    pre {
      cost = total(price.as("Number"), qty = 2);
      tags = event:attrs{["tags"]}.defaultsTo([]).map(function(t) { t.lc() });
      first = tags[0] || "none";
      label = cost > 100 => "big" | cost > 10 => "medium" | "small";
    }
    if cost >= 0 && not (item like re#^x#) then
      shout(item, text = <<bought #{item} for #{cost}>>) setting(said)
    fired {
      ent:bought{item} := ent:bought{item}.defaultsTo(0) + 1;
      ent:last := {"item": item, "cost": cost, "said": said};
      raise shop event "bought" attributes {"item": item, "label": label}
    } else {
      ent:misses := ent:misses.defaultsTo(0) + 1 on final;
      log warn "no buy of " + item
    } finally {
      schedule shop event "remind" at time:add(time:now(), {"minutes": 5})
        attributes {"item": item} setting(sid)
    }
  }
}
"##,
    r##"ruleset io.example.fuzz.two {
  meta { shares routed }
  global {
    routed = function() { ent:routed.defaultsTo(0) }
    m = {"a": {"b": [1, {"c": 3}]}, 'single': 'quoted'}
  }
  rule pairs {
    select when (door knock before door enter) or any 2 (trio a, trio b, trio c) within 10 seconds
    every {
      send_directive("pair", {"m": m{["a", "b", 1, "c"]}});
      lbl => send_directive("second");
    }
  }
  rule windows {
    select when win mid between(win start, win stop)
      or win2 mid not between(win2 start, win2 stop)
    choose dept(event:attrs) {
      sales => send_directive("to_sales");
      help => send_directive("to_support", {"ticket": "T-1"});
    }
    always {
      clear ent:window{"k"};
      raise event "win:seen" for meta:rid attributes event:attrs
    }
  }
  rule counted {
    select when count 3 (meter reading v re#(\d+)#) max(m)
      or repeat 2 (temp t c re#(-?\d+)#) push(vals)
    foreach vals setting(v, i)
      foreach [1, 2] setting(w)
    sample { send_directive("v", {"v": v, "i": i, "w": w}); }
    notfired { last } finally { ent:routed := routed() + 1 }
  }
  rule where_clause {
    select when echo:hello name re#(.*)# setting(name) where name != "" && name.length() < 20
    if name.match(re#^a#) then noop()
  }
  rule plain { select where event:domain == "x" }
  rule empty { }
}
"##,
    r##"ruleset a1x2 {
  meta {
    key twilio {"account_sid": "AC1", "auth_token": "x"}
    errors to a1x3 version "dev"
    use css resource "https://example.com/a.css"
    authz require user
    sharing on
  }
  dispatch { domain "example.com" { nested } }
  global {
    dataset cities <- "https://example.com/cities.json" cachable for 2 hours
    emit <| var x = 1; |>
    x = re/a\/b/i; y = #pat#g; z = <[ xdi ]>;
    f = function() { 1 <=> 2 cmp 3 >< [3] eq "3" neq "4" % 5 - -6 / +7 }
  }
  rule classic is inactive {
    select using "/path/(\d+)" setting(n)
    pre { k = n + 0 }
    {
      twilio:say("hi") with voice = "alice" and loop = 2;
      twilio:gather_stop;
    }
    fired {
      ent:n += 1 from 0;
      set ent:flag;
      set ent:v k;
      raise explicit event "go" with a = 1 and b = 2;
      error info "oops" if k > 3;
      x = 1
    }
  }
  rule page { select when pageview "/index.html" setting(p) or web click "#btn" }
}
"##,
];

/// KRL's tokens and keywords: insertions from this list tend to reach
/// deeper into the grammar than random bytes do.
const VOCAB: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    "<<",
    ">>",
    "#{",
    "re#",
    "re/",
    "#",
    "/*",
    "*/",
    "//",
    "<|",
    "|>",
    "<[",
    "]>",
    "\\",
    "\n",
    " ",
    ",",
    ";",
    ":",
    ":=",
    "=",
    "==",
    "=>",
    "|",
    "||",
    "&&",
    "<=>",
    "><",
    "+=",
    "-=",
    "<-",
    ".",
    "..",
    "-",
    "+",
    "*",
    "/",
    "%",
    "<",
    ">",
    "0",
    "42",
    "3.25",
    ".5",
    "\"s\"",
    "'q'",
    "x",
    "$x",
    "_",
    "ent:",
    "app:",
    "event:attrs",
    "meta:rid",
    "ruleset",
    "meta",
    "global",
    "rule",
    "is",
    "active",
    "inactive",
    "select",
    "when",
    "where",
    "within",
    "using",
    "foreach",
    "setting",
    "pre",
    "if",
    "then",
    "every",
    "sample",
    "choose",
    "fired",
    "notfired",
    "else",
    "finally",
    "always",
    "raise",
    "event",
    "for",
    "attributes",
    "schedule",
    "at",
    "repeat",
    "log",
    "error",
    "last",
    "on",
    "off",
    "final",
    "clear",
    "set",
    "from",
    "name",
    "shares",
    "provides",
    "use",
    "module",
    "alias",
    "with",
    "and",
    "or",
    "before",
    "after",
    "between",
    "not",
    "any",
    "count",
    "key",
    "keys",
    "errors",
    "to",
    "function",
    "defaction",
    "return",
    "returns",
    "dispatch",
    "dataset",
    "emit",
    "css",
    "pageview",
    "web",
    "mark",
    "forget",
    "in",
    "null",
    "true",
    "false",
    "like",
    "cmp",
    "eq",
    "neq",
    "max",
    "push",
    "seconds",
    "minutes",
    "configure",
    "\u{A0}",
    "\u{FEFF}",
    "\u{2028}",
    "é",
    "😀",
    "\t",
    "\r\n",
];

/// The seeds: [`SEEDS`] plus every ruleset file found at test time.
fn seeds() -> &'static [String] {
    static ALL: OnceLock<Vec<String>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut places = vec![root.join("rulesets"), root.join("grammar/cases/ok")];
        if let Ok(extra) = std::env::var("KRL_FUZZ_SEEDS") {
            places.extend(
                extra
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from),
            );
        }
        for place in places {
            for file in krl_files(&place) {
                if let Ok(src) = std::fs::read_to_string(&file) {
                    all.push(src);
                }
            }
        }
        all
    })
}

/// `path` itself if it is a file, its `*.krl` files (sorted) if a directory.
fn krl_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "krl"))
        .collect();
    found.sort();
    found
}

/// What is parsed.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Ruleset,
    Expr,
}

/// Parses `src` on its own thread and fails the test if that panics or
/// takes longer than [`HANG_LIMIT`]. On success the result is checked
/// and rendered as `krl check` would.
fn must_survive(entry: Entry, src: String) {
    let (tx, rx) = mpsc::channel();
    let input = src.clone();
    let worker = std::thread::Builder::new()
        .name("parse".into())
        .spawn(move || {
            exercise(entry, &input);
            let _ = tx.send(());
        })
        .expect("spawning a thread");
    match rx.recv_timeout(HANG_LIMIT) {
        Ok(()) => {
            let _ = worker.join();
        }
        Err(RecvTimeoutError::Disconnected) => {
            // The worker dropped its sender without sending: it panicked.
            let payload = worker
                .join()
                .expect_err("the worker ended without reporting");
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{entry:?} parse panicked: {msg}\ninput: {src:?}");
        }
        // The worker is left running; the test process ends soon anyway.
        Err(RecvTimeoutError::Timeout) => {
            panic!("{entry:?} parse did not finish within {HANG_LIMIT:?}\ninput: {src:?}")
        }
    }
}

/// Parse, check and render: everything `krl check` does with a file.
fn exercise(entry: Entry, src: &str) {
    let diags: Vec<Diagnostic> = match entry {
        Entry::Ruleset => match parse_ruleset(src) {
            Ok(rs) => check_ruleset(&rs),
            Err(d) => vec![d],
        },
        Entry::Expr => match parse_expr(src) {
            Ok(_) => Vec::new(),
            Err(d) => vec![d],
        },
    };
    for d in diags {
        let (start, end) = (d.span.start as usize, d.span.end as usize);
        assert!(
            start <= end && end <= src.len(),
            "diagnostic span {start}..{end} outside the source ({} bytes): {}",
            src.len(),
            d.message
        );
        let out = d.render("fuzz.krl", src);
        assert!(out.starts_with("fuzz.krl:"), "rendered: {out}");
    }
}

/// The largest char boundary at or before `i`.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A byte range of `s` on char boundaries, from two indexes.
fn range(s: &str, a: Index, b: Index) -> (usize, usize) {
    let (a, b) = (
        floor(s, a.index(s.len() + 1)),
        floor(s, b.index(s.len() + 1)),
    );
    (a.min(b), a.max(b))
}

/// One edit of the source text.
#[derive(Clone, Debug)]
enum Mutation {
    Delete(Index, Index),
    Insert(Index, &'static str),
    InsertText(Index, String),
    Duplicate(Index, Index, Index),
    Swap(Index, Index, Index, Index),
    Truncate(Index),
}

impl Mutation {
    fn apply(&self, s: &mut String) {
        match self {
            Mutation::Delete(a, b) => {
                let (a, b) = range(s, *a, *b);
                s.replace_range(a..b, "");
            }
            Mutation::Insert(at, tok) => {
                let at = floor(s, at.index(s.len() + 1));
                s.insert_str(at, tok);
            }
            Mutation::InsertText(at, text) => {
                let at = floor(s, at.index(s.len() + 1));
                s.insert_str(at, text);
            }
            Mutation::Duplicate(a, b, at) => {
                let (a, b) = range(s, *a, *b);
                let piece = s[a..b].to_string();
                let at = floor(s, at.index(s.len() + 1));
                s.insert_str(at, &piece);
            }
            Mutation::Swap(a, b, c, d) => {
                let (a, b) = range(s, *a, *b);
                let (c, d) = range(s, *c, *d);
                // Two disjoint ranges, the first before the second.
                let ((a, b), (c, d)) = if b <= c {
                    ((a, b), (c, d))
                } else if d <= a {
                    ((c, d), (a, b))
                } else {
                    return;
                };
                let swapped = format!("{}{}{}", &s[c..d], &s[b..c], &s[a..b]);
                s.replace_range(a..d, &swapped);
            }
            Mutation::Truncate(at) => {
                let at = floor(s, at.index(s.len() + 1));
                s.truncate(at);
            }
        }
    }
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(VOCAB)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<Index>;
    prop_oneof![
        3 => (i(), i()).prop_map(|(a, b)| Mutation::Delete(a, b)),
        6 => (i(), token()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        1 => (i(), "\\PC{0,8}").prop_map(|(a, t)| Mutation::InsertText(a, t)),
        2 => (i(), i(), i()).prop_map(|(a, b, c)| Mutation::Duplicate(a, b, c)),
        2 => (i(), i(), i(), i()).prop_map(|(a, b, c, d)| Mutation::Swap(a, b, c, d)),
        1 => i().prop_map(Mutation::Truncate),
    ]
}

/// A seed ruleset with a few edits applied.
fn mutated_seed() -> impl Strategy<Value = String> {
    (any::<Index>(), prop::collection::vec(mutation(), 1..8)).prop_map(|(seed, edits)| {
        let seeds = seeds();
        let mut src = seeds[seed.index(seeds.len())].clone();
        for edit in &edits {
            edit.apply(&mut src);
        }
        src
    })
}

/// KRL tokens strung together with random spacing.
fn token_soup(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        (token(), prop::sample::select(&[" ", "", "\n", "  "][..])),
        0..max,
    )
    .prop_map(|parts| parts.into_iter().flat_map(|(t, sep)| [t, sep]).collect())
}

/// 256 cases per property unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Failures are reported with the input; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_rulesets_never_panic_or_hang(src in mutated_seed()) {
        must_survive(Entry::Ruleset, src);
    }

    #[test]
    fn random_text_never_panics_or_hangs(src in "\\PC{0,200}|[ -~\n]{0,200}") {
        must_survive(Entry::Ruleset, src.clone());
        must_survive(Entry::Expr, src);
    }

    #[test]
    fn token_soup_never_panics_or_hangs(soup in token_soup(60)) {
        must_survive(Entry::Ruleset, soup.clone());
        must_survive(Entry::Ruleset, format!("ruleset r {{ rule a {{ {soup} }} }}"));
        must_survive(Entry::Ruleset, format!("ruleset r {{ global {{ x = {soup} }} }}"));
        must_survive(Entry::Expr, soup);
    }
}

#[test]
fn inline_seeds_parse() {
    // The mutations start from valid rulesets; a seed that does not parse
    // makes the fuzzing shallower. (Files found at test time belong to
    // their own tests and are used as they are.)
    for (i, src) in SEEDS.iter().enumerate() {
        if let Err(d) = parse_ruleset(src) {
            panic!("seed {i} does not parse:\n{}", d.render("seed.krl", src));
        }
    }
}

#[test]
fn floor_stays_on_char_boundaries() {
    let s = "aé😀b";
    let floors: Vec<usize> = (0..=s.len() + 1).map(|i| floor(s, i)).collect();
    assert_eq!(floors, [0, 1, 1, 3, 3, 3, 3, 7, 8, 8]);
}

// ------------------------------------------------------------ deep nesting
//
// pest recurses once per nesting level, and so do the AST builder and
// `Drop`. These inputs must come back as `Ok` or as an error, not abort the
// process with a stack overflow. They run on a thread with the default
// 2 MiB stack, as a server's worker threads would.

const DEPTH: usize = 10_000;

fn nested(open: &str, middle: &str, close: &str) -> String {
    format!("{}{}{}", open.repeat(DEPTH), middle, close.repeat(DEPTH))
}

fn in_global(expr: &str) -> String {
    format!("ruleset deep {{ global {{ x = {expr} }} }}")
}

#[test]
fn deep_parentheses() {
    must_survive(Entry::Expr, nested("(", "1", ")"));
    must_survive(Entry::Ruleset, in_global(&nested("(", "1", ")")));
}

#[test]
fn deep_arrays() {
    must_survive(Entry::Ruleset, in_global(&nested("[", "1", "]")));
}

#[test]
fn deep_maps() {
    must_survive(Entry::Ruleset, in_global(&nested("{\"a\": ", "1", "}")));
}

#[test]
fn deep_functions() {
    must_survive(Entry::Ruleset, in_global(&nested("function(){", "1", "}")));
}

#[test]
fn deep_unclosed() {
    // Unbalanced: the error path re-parses with detail on, which recurses too.
    must_survive(Entry::Ruleset, in_global(&"(".repeat(DEPTH)));
    must_survive(Entry::Ruleset, in_global(&"[".repeat(DEPTH)));
}

#[test]
fn deep_event_expressions() {
    let expr = nested("(", "a b", ")");
    must_survive(
        Entry::Ruleset,
        format!("ruleset deep {{ rule r {{ select when {expr} }} }}"),
    );
}

/// Valid nesting of a depth real rulesets could reach parses.
#[test]
fn moderate_nesting_parses() {
    const D: usize = 64;
    let deep = |open: &str, middle: &str, close: &str| {
        format!("{}{}{}", open.repeat(D), middle, close.repeat(D))
    };
    let exprs = [
        deep("(", "1", ")"),
        deep("[", "1", "]"),
        deep("{\"a\": ", "1", "}"),
        deep("function(){", "1", "}"),
        deep("a => b | ", "0", ""),
        deep("-", "1", ""),
        format!("a{}", ".b()".repeat(D)),
        vec!["1"; D].join(" + "),
    ];
    for expr in exprs {
        let src = format!("ruleset deep {{ global {{ a = 1 b = 1 x = {expr} }} }}");
        let result = std::thread::spawn(move || parse_ruleset(&src).map(|rs| check_ruleset(&rs)))
            .join()
            .expect("parsing panicked");
        match result {
            Ok(diags) => assert!(diags.is_empty(), "{expr:.60}: {diags:?}"),
            Err(d) => panic!("{expr:.60}: {}", d.message),
        }
    }
}

// Long but flat: `1 + 1 + ...` and `x.a().a()...` are loops in the grammar
// but left-deep trees in the AST, which the builder and the checker walk
// recursively. (These overflowed the stack until the parser bounded chain
// length.)

#[test]
fn long_sums() {
    must_survive(Entry::Ruleset, in_global(&vec!["1"; DEPTH].join(" + ")));
}

#[test]
fn long_method_chains() {
    must_survive(
        Entry::Ruleset,
        in_global(&format!("x{}", ".a()".repeat(DEPTH))),
    );
}

#[test]
fn long_prefix_runs() {
    must_survive(
        Entry::Ruleset,
        in_global(&format!("{}1", "-".repeat(DEPTH))),
    );
    must_survive(
        Entry::Ruleset,
        in_global(&format!("{}1", "not ".repeat(DEPTH))),
    );
}

#[test]
fn long_conditional_chains() {
    for depth in [1_000, DEPTH] {
        must_survive(
            Entry::Ruleset,
            in_global(&format!("{}0", "a => b | ".repeat(depth))),
        );
    }
}

#[test]
fn long_conditional_chain_before_layout() {
    // The space before `}` makes every nested `expr` end in layout.
    let chain = format!("{}0", "a => b | ".repeat(20_000));
    must_survive(
        Entry::Ruleset,
        format!("ruleset deep {{ global {{ a = 1 b = 1 y = {chain} }} }}"),
    );
}
