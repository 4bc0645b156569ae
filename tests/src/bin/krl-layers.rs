//! `krl-layers`: no import cycle between the modules of each engine crate
//! (issue 10). Run from anywhere in the workspace:
//!
//! ```text
//! cargo run -q -p krl-tests --bin krl-layers                 check both crates
//! cargo run -q -p krl-tests --bin krl-layers -- --crate lang  only krl_lang
//! cargo run -q -p krl-tests --bin krl-layers -- --graph       top-level edges
//! cargo run -q -p krl-tests --bin krl-layers -- --verbose     every reference
//! ```
//!
//! It reads the module tree of `krl_lang` (engine/lang/src/lib.rs) and of
//! the `krl` library (engine/server/src/lib.rs) by following `mod x;`
//! declarations (`x.rs`, `x/mod.rs`, `#[path]`) and inline `mod x { }`
//! blocks. `engine/server/src/main.rs` is another crate root (the binary);
//! it declares no module, so it is not read.
//!
//! Test-only code is left out: any item under `#[cfg(test)]` (or
//! `#[cfg(all(test, ...))]`), so `#[cfg(test)] mod tests;` files and inline
//! test modules, and files that start with `#![cfg(test)]`.
//!
//! Edges: every path in the remaining code that names a module of the same
//! crate — `use` trees (nested braces, `self`, `as`, globs) and paths in
//! code (`crate::a::f()`, `super::x::Y`, `self::m::Z`, `$crate::...`, and
//! paths that start with a child module or a module brought in by a `use`).
//! A path is resolved to the deepest module it names: a path that ends in an
//! item names the module holding it. Comments, doc comments, string and char
//! literals and attributes are not read.
//!
//! Cycles: an edge A → B where neither is an ancestor of the other counts,
//! at their lowest common ancestor L, as an edge between the two children of
//! L that hold A and B. For every module L, a strongly connected component
//! of more than one child is a cycle. Each is printed as the shortest cycles
//! that between them use every edge of the component, one example reference
//! (file:line) per step. Exit status: 0 no cycle, 1 cycles, 2 unreadable
//! tree or bad arguments.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The crates checked: name printed, root file, `--crate` value.
const CRATES: &[(&str, &str, &str)] = &[
    ("krl_lang", "engine/lang/src/lib.rs", "lang"),
    ("krl", "engine/server/src/lib.rs", "server"),
];

// ------------------------------------------------------------------ lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword (`r#x` is `x`; `$crate` stays `$crate`).
    Ident(String),
    /// One punctuation character, or `::`.
    Punct(String),
    /// A string literal's text between its quotes, escapes not undone.
    Str(String),
    /// A number, char literal or lifetime.
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Rust source → tokens, comments dropped.
fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // A string body from `i` (after the opening quote) to its closing
    // quote; `hashes` > 0 or `raw` for raw strings. Returns the text and
    // the index after the literal.
    let string = |mut i: usize, raw: bool, hashes: usize, line: &mut usize| {
        let start = i;
        while i < c.len() {
            match c[i] {
                '\n' => *line += 1,
                '\\' if !raw => {
                    if at(i + 1) == '\n' {
                        *line += 1;
                    }
                    i += 1;
                }
                '"' if (1..=hashes).all(|k| at(i + k) == '#') => {
                    let text: String = c[start..i].iter().collect();
                    return (text, i + 1 + hashes);
                }
                _ => {}
            }
            i += 1;
        }
        (c[start..].iter().collect(), c.len())
    };
    while i < c.len() {
        let ch = c[i];
        let tok_line = line;
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            let (s, next) = string(i + 1, false, 0, &mut line);
            out.push(Token {
                tok: Tok::Str(s),
                line: tok_line,
            });
            i = next;
        } else if ch == '\'' {
            // 'x', '\n', '\u{..}' are chars; 'a and 'label are lifetimes
            if at(i + 1) == '\\' {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Other,
                line: tok_line,
            });
        } else if ch == '$'
            && c[i + 1..].starts_with(&['c', 'r', 'a', 't', 'e'])
            && !is_ident_char(at(i + 6))
        {
            out.push(Token {
                tok: Tok::Ident("$crate".into()),
                line: tok_line,
            });
            i += 6;
        } else if is_ident_start(ch) {
            let start = i;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix
                && (at(i) == '"' || (at(i) == '#' && (at(i + 1) == '#' || at(i + 1) == '"')))
            {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                let (s, next) = string(i + 1, true, hashes, &mut line);
                out.push(Token {
                    tok: Tok::Str(s),
                    line: tok_line,
                });
                i = next;
            } else if word == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                let start = i + 1;
                i += 1;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(c[start..i].iter().collect()),
                    line: tok_line,
                });
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                let (s, next) = string(i + 1, false, 0, &mut line);
                out.push(Token {
                    tok: Tok::Str(s),
                    line: tok_line,
                });
                i = next;
            } else if word == "b" && at(i) == '\'' {
                i += if at(i + 1) == '\\' { 3 } else { 2 };
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(Token {
                    tok: Tok::Other,
                    line: tok_line,
                });
            } else {
                out.push(Token {
                    tok: Tok::Ident(word),
                    line: tok_line,
                });
            }
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (is_ident_char(c[i]) || (c[i] == '.' && at(i + 1).is_ascii_digit()))
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Other,
                line: tok_line,
            });
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::Punct("::".into()),
                line: tok_line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(ch.to_string()),
                line: tok_line,
            });
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------- scanner

fn is_p(t: &[Token], i: usize, p: &str) -> bool {
    matches!(t.get(i), Some(Token { tok: Tok::Punct(q), .. }) if q == p)
}

fn is_id(t: &[Token], i: usize, w: &str) -> bool {
    matches!(t.get(i), Some(Token { tok: Tok::Ident(q), .. }) if q == w)
}

fn ident(t: &[Token], i: usize) -> Option<&str> {
    match t.get(i) {
        Some(Token {
            tok: Tok::Ident(w), ..
        }) => Some(w),
        _ => None,
    }
}

fn opens(t: &[Token], i: usize) -> bool {
    is_p(t, i, "(") || is_p(t, i, "[") || is_p(t, i, "{")
}

fn closes(t: &[Token], i: usize) -> bool {
    is_p(t, i, ")") || is_p(t, i, "]") || is_p(t, i, "}")
}

/// The index of the token that closes the group opened at `open` (or `end`).
fn matching(t: &[Token], open: usize, end: usize) -> usize {
    let mut depth = 0usize;
    for j in open..end {
        if opens(t, j) {
            depth += 1;
        } else if closes(t, j) {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return j;
            }
        }
    }
    end
}

/// Whether the attribute whose tokens are `t[s..e]` is `cfg(test)` or
/// `cfg(all(.., test, ..))`: the item exists only in test builds.
fn cfg_test(t: &[Token], s: usize, e: usize) -> bool {
    if !(is_id(t, s, "cfg") && is_p(t, s + 1, "(")) {
        return false;
    }
    let close = matching(t, s + 1, e);
    if close == s + 3 && is_id(t, s + 2, "test") {
        return true;
    }
    if is_id(t, s + 2, "all") && is_p(t, s + 3, "(") {
        let inner_close = matching(t, s + 3, e);
        let mut depth = 0;
        for j in s + 4..inner_close {
            if opens(t, j) {
                depth += 1;
            } else if closes(t, j) {
                depth -= 1;
            } else if depth == 0 && is_id(t, j, "test") {
                return true;
            }
        }
    }
    false
}

/// The file of `#[path = "..."]`, if the attribute `t[s..e]` is one.
fn path_attr(t: &[Token], s: usize, e: usize) -> Option<String> {
    match t.get(s + 2) {
        Some(Token {
            tok: Tok::Str(p), ..
        }) if e == s + 3 && is_id(t, s, "path") && is_p(t, s + 1, "=") => Some(p.clone()),
        _ => None,
    }
}

/// The index after the item (or field, variant, arm) that starts at `i`:
/// after its `;`, its first `{ }` block at its own level or, for what is
/// not an item, its `,`. Stops before a bracket that closes the enclosing
/// group.
fn skip_item(t: &[Token], i: usize, end: usize) -> usize {
    const ITEM: &[&str] = &[
        "fn",
        "struct",
        "enum",
        "union",
        "impl",
        "mod",
        "use",
        "const",
        "static",
        "type",
        "trait",
        "extern",
        "unsafe",
        "async",
        "macro_rules",
        "let",
    ];
    let is_item = ident(t, i).is_some_and(|w| ITEM.contains(&w));
    let mut depth = 0usize;
    for j in i..end {
        if opens(t, j) {
            depth += 1;
        } else if closes(t, j) {
            if depth == 0 {
                return j;
            }
            depth -= 1;
            if depth == 0 && is_p(t, j, "}") {
                return j + 1;
            }
        } else if depth == 0 && (is_p(t, j, ";") || (!is_item && is_p(t, j, ","))) {
            return j + 1;
        }
    }
    end
}

/// A path found in a module's code.
#[derive(Debug, Clone, PartialEq)]
struct Ref {
    /// The segments as written, `use` groups expanded; the first may be
    /// `crate`, `$crate`, `super`, `self`, `::` (an external crate) or a
    /// name.
    segs: Vec<String>,
    line: usize,
    /// `use ...` (not a path in code).
    is_use: bool,
    /// `use a::b::*`.
    glob: bool,
    /// `use a::b as c`.
    alias: Option<String>,
}

impl Ref {
    fn text(&self) -> String {
        let mut s = match self.segs.split_first() {
            Some((first, rest)) if first == "::" => format!("::{}", rest.join("::")),
            _ => self.segs.join("::"),
        };
        if self.glob {
            s.push_str("::*");
        }
        if let Some(a) = &self.alias {
            s.push_str(" as ");
            s.push_str(a);
        }
        if self.is_use {
            s.insert_str(0, "use ");
        }
        s
    }
}

/// Expands the use tree at `t[i..end]` under `prefix` into `out`; returns
/// the index after the tree.
fn use_tree(t: &[Token], mut i: usize, end: usize, prefix: &[String], out: &mut Vec<Ref>) -> usize {
    let mut segs = prefix.to_vec();
    if is_p(t, i, "::") {
        if segs.is_empty() {
            segs.push("::".into());
        }
        i += 1;
    }
    while i < end {
        if let Some(w) = ident(t, i) {
            let line = t[i].line;
            if w != "self" || segs.is_empty() {
                segs.push(w.to_string());
            }
            i += 1;
            if is_p(t, i, "::") {
                i += 1;
                continue;
            }
            let mut alias = None;
            if is_id(t, i, "as") {
                alias = ident(t, i + 1).map(str::to_string);
                i += 2;
            }
            out.push(Ref {
                segs,
                line,
                is_use: true,
                glob: false,
                alias,
            });
            return i;
        } else if is_p(t, i, "{") {
            let close = matching(t, i, end);
            i += 1;
            while i < close {
                let next = use_tree(t, i, close, &segs, out);
                i = next.max(i + 1);
                if is_p(t, i, ",") {
                    i += 1;
                }
            }
            return close + 1;
        } else if is_p(t, i, "*") {
            out.push(Ref {
                segs,
                line: t[i].line,
                is_use: true,
                glob: true,
                alias: None,
            });
            return i + 1;
        } else {
            return i + 1;
        }
    }
    i
}

/// A `mod` declaration kept (not test-only).
#[derive(Debug, Clone, PartialEq)]
struct ModDecl {
    name: String,
    path_attr: Option<String>,
    /// The token range of an inline module's body.
    inline: Option<(usize, usize)>,
}

#[derive(Debug, Default)]
struct Body {
    mods: Vec<ModDecl>,
    refs: Vec<Ref>,
    /// `#![cfg(test)]`: the whole module is test-only.
    test_only: bool,
}

/// The module declarations and paths of the module body `t[start..end]`,
/// test-only items left out (inline child modules are not entered).
fn scan(t: &[Token], start: usize, end: usize) -> Body {
    let mut b = Body::default();
    let mut attrs: Vec<(usize, usize)> = Vec::new();
    let mut i = start;
    while i < end {
        if is_p(t, i, "#") && is_p(t, i + 1, "[") {
            let close = matching(t, i + 1, end);
            attrs.push((i + 2, close));
            i = close + 1;
            continue;
        }
        if is_p(t, i, "#") && is_p(t, i + 1, "!") && is_p(t, i + 2, "[") {
            let close = matching(t, i + 2, end);
            if cfg_test(t, i + 3, close) {
                b.test_only = true;
            }
            i = close + 1;
            continue;
        }
        if is_id(t, i, "pub") {
            // visibility, `pub(in crate::x)` included, is not a dependency
            i += 1;
            if is_p(t, i, "(") {
                i = matching(t, i, end) + 1;
            }
            continue;
        }
        if attrs.iter().any(|&(s, e)| cfg_test(t, s, e)) {
            attrs.clear();
            i = skip_item(t, i, end);
            continue;
        }
        let path = attrs.iter().find_map(|&(s, e)| path_attr(t, s, e));
        attrs.clear();
        if is_id(t, i, "mod") {
            if let Some(name) = ident(t, i + 1) {
                let name = name.to_string();
                if is_p(t, i + 2, ";") {
                    b.mods.push(ModDecl {
                        name,
                        path_attr: path,
                        inline: None,
                    });
                    i += 3;
                    continue;
                }
                if is_p(t, i + 2, "{") {
                    let close = matching(t, i + 2, end);
                    b.mods.push(ModDecl {
                        name,
                        path_attr: path,
                        inline: Some((i + 3, close)),
                    });
                    i = close + 1;
                    continue;
                }
            }
        }
        if is_id(t, i, "use")
            && (ident(t, i + 1).is_some() || is_p(t, i + 1, "::") || is_p(t, i + 1, "{"))
        {
            let mut semi = i + 1;
            let mut depth = 0usize;
            while semi < end && !(depth == 0 && is_p(t, semi, ";")) {
                if opens(t, semi) {
                    depth += 1;
                } else if closes(t, semi) {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                semi += 1;
            }
            use_tree(t, i + 1, semi, &[], &mut b.refs);
            i = semi + 1;
            continue;
        }
        if let Some(first) = ident(t, i) {
            let starts = i == start || !(is_p(t, i - 1, "::") || is_p(t, i - 1, "."));
            if starts && is_p(t, i + 1, "::") && ident(t, i + 2).is_some() {
                let line = t[i].line;
                let mut segs = vec![first.to_string()];
                let mut j = i + 1;
                while is_p(t, j, "::") {
                    match ident(t, j + 1) {
                        Some(w) => segs.push(w.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                b.refs.push(Ref {
                    segs,
                    line,
                    is_use: false,
                    glob: false,
                    alias: None,
                });
                i = j;
                continue;
            }
        }
        i += 1;
    }
    b
}

// ----------------------------------------------------------- module tree

#[derive(Debug)]
struct Module {
    /// `a::b` from the crate root; `""` for the root.
    path: String,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// The file that holds the module's code.
    file: PathBuf,
    refs: Vec<Ref>,
}

#[derive(Debug)]
struct Crate {
    name: String,
    mods: Vec<Module>,
}

/// A reference from one module to another.
#[derive(Debug, Clone)]
struct Edge {
    from: usize,
    to: usize,
    file: PathBuf,
    line: usize,
    text: String,
}

type Reader<'a> = &'a dyn Fn(&Path) -> Option<String>;

impl Crate {
    /// Reads the crate whose root file is `root` (a path `read` accepts).
    fn load(name: &str, root: &Path, read: Reader) -> Result<Crate, String> {
        let mut c = Crate {
            name: name.to_string(),
            mods: Vec::new(),
        };
        let src = read(root).ok_or_else(|| format!("{}: cannot read", root.display()))?;
        let toks = lex(&src);
        let dir = root.parent().unwrap_or(Path::new("")).to_path_buf();
        c.add(None, "", root, dir, false, &toks, (0, toks.len()), read)?;
        Ok(c)
    }

    /// Adds the module `name` under `parent`, its code `toks[range]` from
    /// `file`, its out-of-line children looked for in `child_dir`.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        parent: Option<usize>,
        name: &str,
        file: &Path,
        child_dir: PathBuf,
        inline: bool,
        toks: &[Token],
        range: (usize, usize),
        read: Reader,
    ) -> Result<(), String> {
        let body = scan(toks, range.0, range.1);
        if body.test_only {
            return Ok(());
        }
        let idx = self.mods.len();
        let path = match parent {
            Some(p) if !self.mods[p].path.is_empty() => format!("{}::{name}", self.mods[p].path),
            _ => name.to_string(),
        };
        self.mods.push(Module {
            path,
            parent,
            children: BTreeMap::new(),
            file: file.to_path_buf(),
            refs: body.refs,
        });
        if let Some(p) = parent {
            self.mods[p].children.insert(name.to_string(), idx);
        }
        for d in body.mods {
            if let Some(r) = d.inline {
                let cd = child_dir.join(&d.name);
                self.add(Some(idx), &d.name, file, cd, true, toks, r, read)?;
                continue;
            }
            let (child, src, mod_rs) = if let Some(p) = &d.path_attr {
                let base = if inline {
                    child_dir.clone()
                } else {
                    file.parent().unwrap_or(Path::new("")).to_path_buf()
                };
                let f = base.join(p);
                let src = read(&f).ok_or_else(|| {
                    format!("{}: #[path] {}: cannot read", file.display(), f.display())
                })?;
                (f, src, true)
            } else {
                let a = child_dir.join(format!("{}.rs", d.name));
                let b = child_dir.join(&d.name).join("mod.rs");
                match (read(&a), read(&b)) {
                    (Some(src), _) => (a, src, false),
                    (None, Some(src)) => (b, src, true),
                    (None, None) => {
                        return Err(format!(
                            "{}: mod {}; is in neither {} nor {}",
                            file.display(),
                            d.name,
                            a.display(),
                            b.display()
                        ))
                    }
                }
            };
            let cd = if mod_rs {
                child.parent().unwrap_or(Path::new("")).to_path_buf()
            } else {
                child_dir.join(&d.name)
            };
            let ctoks = lex(&src);
            self.add(
                Some(idx),
                &d.name,
                &child,
                cd,
                false,
                &ctoks,
                (0, ctoks.len()),
                read,
            )?;
        }
        Ok(())
    }

    fn is_ancestor(&self, a: usize, mut b: usize) -> bool {
        while let Some(p) = self.mods[b].parent {
            if p == a {
                return true;
            }
            b = p;
        }
        false
    }

    /// The ancestors of `m` from the root down, `m` included.
    fn chain(&self, mut m: usize) -> Vec<usize> {
        let mut v = vec![m];
        while let Some(p) = self.mods[m].parent {
            v.push(p);
            m = p;
        }
        v.reverse();
        v
    }

    /// The deepest module `segs` names from module `m`, and whether every
    /// segment was a module. `None`: not a path into this crate.
    fn resolve(
        &self,
        m: usize,
        segs: &[String],
        aliases: &HashMap<String, usize>,
    ) -> Option<(usize, bool)> {
        let (mut cur, mut k) = match segs.first()?.as_str() {
            "crate" | "$crate" => (0, 1),
            "super" => (self.mods[m].parent?, 1),
            "self" => (m, 1),
            "::" => return None,
            name => {
                if self.mods[m].children.contains_key(name) {
                    (m, 0)
                } else {
                    (*aliases.get(name)?, 1)
                }
            }
        };
        while segs.get(k).is_some_and(|s| s == "super") {
            cur = self.mods[cur].parent?;
            k += 1;
        }
        while let Some(s) = segs.get(k) {
            match self.mods[cur].children.get(s) {
                Some(&c) => cur = c,
                None if s == "self" => {}
                None => break,
            }
            k += 1;
        }
        Some((cur, k == segs.len()))
    }

    /// Every reference from a module to another module of the crate.
    fn edges(&self) -> Vec<Edge> {
        let mut out = Vec::new();
        for (m, module) in self.mods.iter().enumerate() {
            // names that `use` binds to modules, for paths that start with them
            let mut aliases = HashMap::new();
            for r in module.refs.iter().filter(|r| r.is_use && !r.glob) {
                if let Some((to, true)) = self.resolve(m, &r.segs, &HashMap::new()) {
                    let name = r.alias.clone().or_else(|| r.segs.last().cloned());
                    if let Some(name) =
                        name.filter(|n| n != "_" && n != "self" && n != "crate" && n != "super")
                    {
                        aliases.insert(name, to);
                    }
                }
            }
            for r in &module.refs {
                if let Some((to, _)) = self.resolve(m, &r.segs, &aliases) {
                    if to != m {
                        out.push(Edge {
                            from: m,
                            to,
                            file: module.file.clone(),
                            line: r.line,
                            text: r.text(),
                        });
                    }
                }
            }
        }
        out
    }

    /// For every module L, the edges between its children: an edge A → B
    /// counts at the lowest common ancestor of A and B unless one is an
    /// ancestor of the other. Values: indices into `edges`.
    fn levels(&self, edges: &[Edge]) -> BTreeMap<usize, BTreeMap<(usize, usize), Vec<usize>>> {
        let mut levels: BTreeMap<usize, BTreeMap<(usize, usize), Vec<usize>>> = BTreeMap::new();
        for (k, e) in edges.iter().enumerate() {
            if e.from == e.to || self.is_ancestor(e.from, e.to) || self.is_ancestor(e.to, e.from) {
                continue;
            }
            let (a, b) = (self.chain(e.from), self.chain(e.to));
            let d = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            levels
                .entry(a[d - 1])
                .or_default()
                .entry((a[d], b[d]))
                .or_default()
                .push(k);
        }
        levels
    }

    /// A module's name for output: its path, `(root)` for the root.
    fn label(&self, m: usize) -> &str {
        match self.mods[m].path.as_str() {
            "" => "(root)",
            p => p,
        }
    }
}

// -------------------------------------------------------------- cycles

/// The strongly connected components of the graph (Tarjan), each sorted;
/// all nodes that appear in `adj` (as a key or a target) are covered.
fn sccs(adj: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    struct T<'a> {
        adj: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: HashMap<usize, usize>,
        low: HashMap<usize, usize>,
        stack: Vec<usize>,
        on: BTreeSet<usize>,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for &w in t.adj.get(&v).into_iter().flatten() {
            if !t.index.contains_key(&w) {
                visit(t, w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(&v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(&v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[&v] == t.index[&v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort_unstable();
            t.out.push(comp);
        }
    }
    let mut nodes: BTreeSet<usize> = adj.keys().copied().collect();
    nodes.extend(adj.values().flatten());
    let mut t = T {
        adj,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in nodes {
        if !t.index.contains_key(&v) {
            visit(&mut t, v);
        }
    }
    t.out.sort();
    t.out
}

/// Simple cycles inside the component `comp` that between them use each of
/// its edges: for each edge u → v not yet used, u → v and then the shortest
/// way back from v to u. Each cycle starts at its smallest node.
fn covering_cycles(comp: &[usize], adj: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    let inside: BTreeSet<usize> = comp.iter().copied().collect();
    let succ = |u: usize| {
        adj.get(&u)
            .into_iter()
            .flatten()
            .copied()
            .filter(|w| inside.contains(w))
            .collect::<Vec<_>>()
    };
    let mut used = BTreeSet::new();
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    for &u in comp {
        for v in succ(u) {
            if used.contains(&(u, v)) {
                continue;
            }
            // shortest path v → u (exists: same component)
            let mut prev: HashMap<usize, usize> = HashMap::new();
            let mut queue = VecDeque::from([v]);
            let mut seen = BTreeSet::from([v]);
            while let Some(x) = queue.pop_front() {
                if x == u {
                    break;
                }
                for y in succ(x) {
                    if seen.insert(y) {
                        prev.insert(y, x);
                        queue.push_back(y);
                    }
                }
            }
            let mut back = vec![u];
            while let Some(&p) = prev.get(back.last().unwrap()) {
                back.push(p);
            }
            back.reverse(); // v ... u
            let mut cycle = vec![u];
            cycle.extend(&back[..back.len() - 1]);
            for k in 0..cycle.len() {
                used.insert((cycle[k], cycle[(k + 1) % cycle.len()]));
            }
            let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap();
            cycle.rotate_left(min);
            if !cycles.contains(&cycle) {
                cycles.push(cycle);
            }
        }
    }
    cycles
}

// ------------------------------------------------------------------ main

fn usage() -> ExitCode {
    eprintln!("usage: krl-layers [--graph] [--verbose] [--crate lang|server]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut graph = false;
    let mut verbose = false;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--graph" => graph = true,
            "--verbose" => verbose = true,
            "--crate" => match args.next() {
                Some(c) if CRATES.iter().any(|k| k.2 == c) => only = Some(c),
                _ => return usage(),
            },
            _ => return usage(),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &Path| std::fs::read_to_string(root.join(p)).ok();
    let mut status = ExitCode::SUCCESS;
    for &(name, file, key) in CRATES {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        let c = match Crate::load(name, Path::new(file), &read) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("krl-layers: {e}");
                return ExitCode::from(2);
            }
        };
        let edges = c.edges();
        let levels = c.levels(&edges);
        if graph {
            print_graph(&c, levels.get(&0));
            continue;
        }
        let (cycles, groups) = print_cycles(&c, &edges, &levels, verbose);
        if cycles == 0 {
            println!("{name}: {} modules, 0 cycles", c.mods.len());
        } else {
            let plural = if groups == 1 { "group" } else { "groups" };
            println!(
                "{name}: {} modules, {cycles} cycles (in {groups} {plural} of mutually dependent modules)",
                c.mods.len()
            );
            status = ExitCode::from(1);
        }
    }
    status
}

/// `a -> b, c` for each top-level module of the crate.
fn print_graph(c: &Crate, top: Option<&BTreeMap<(usize, usize), Vec<usize>>>) {
    println!("{}:", c.name);
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for &m in c.mods[0].children.values() {
        out.entry(c.label(m)).or_default();
    }
    for &(a, b) in top.into_iter().flat_map(|t| t.keys()) {
        out.entry(c.label(a)).or_default().insert(c.label(b));
    }
    for (a, bs) in out {
        let bs: Vec<&str> = bs.into_iter().collect();
        if bs.is_empty() {
            println!("  {a} -> (nothing)");
        } else {
            println!("  {a} -> {}", bs.join(", "));
        }
    }
}

/// Prints the cycles, one example reference per step (`verbose`: all of
/// them); returns how many cycles and components.
fn print_cycles(
    c: &Crate,
    edges: &[Edge],
    levels: &BTreeMap<usize, BTreeMap<(usize, usize), Vec<usize>>>,
    verbose: bool,
) -> (usize, usize) {
    let (mut cycles, mut groups) = (0, 0);
    for level in levels.values() {
        let mut adj: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for &(a, b) in level.keys() {
            adj.entry(a).or_default().insert(b);
        }
        for comp in sccs(&adj).into_iter().filter(|s| s.len() > 1) {
            groups += 1;
            for cycle in covering_cycles(&comp, &adj) {
                cycles += 1;
                let names: Vec<&str> = cycle
                    .iter()
                    .chain(&cycle[..1])
                    .map(|&m| c.label(m))
                    .collect();
                println!("{}: {}", c.name, names.join(" -> "));
                for k in 0..cycle.len() {
                    let step = (cycle[k], cycle[(k + 1) % cycle.len()]);
                    let ex = &level[&step];
                    let shown = if verbose { ex.len() } else { 1 };
                    for &k in &ex[..shown] {
                        let e = &edges[k];
                        let more = match ex.len() - shown {
                            0 => String::new(),
                            n => format!(" (and {n} more)"),
                        };
                        println!("    {}:{} {}{more}", e.file.display(), e.line, e.text);
                    }
                }
            }
        }
    }
    (cycles, groups)
}

// ----------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        lex(src)
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Ident(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    fn paths(src: &str) -> Vec<String> {
        let t = lex(src);
        scan(&t, 0, t.len()).refs.iter().map(Ref::text).collect()
    }

    #[test]
    fn comments_strings_chars_and_lifetimes_are_not_code() {
        let src = r####"
            // crate::a::b
            /* crate::c /* nested crate::d */ still comment */
            /// doc crate::e
            let s = "crate::f \" crate::g";
            let r = r#"crate::h " crate::i"#;
            let c = '"'; let q = '\''; fn f<'a>(x: &'a str) {}
            let b = b"crate::j"; let bc = b'"';
            real
        "####;
        let ids = idents(src);
        assert!(ids.iter().all(|w| w != "crate"), "{ids:?}");
        assert_eq!(ids.last().unwrap(), "real");
        // lines are counted through multi-line comments and strings
        let t = lex("/*\n\n*/ \"a\nb\" x");
        assert_eq!(t.last().unwrap().line, 4);
    }

    #[test]
    fn use_trees_are_expanded() {
        assert_eq!(
            paths("use crate::a::{b, c::{self, d as e}, f::*}; pub use super::super::g;"),
            [
                "use crate::a::b",
                "use crate::a::c",
                "use crate::a::c::d as e",
                "use crate::a::f::*",
                "use super::super::g",
            ]
        );
        assert_eq!(
            paths("use ::std::fmt; use {self::x, y::z};"),
            ["use ::std::fmt", "use self::x", "use y::z"]
        );
    }

    #[test]
    fn paths_in_code_are_found_from_their_start() {
        assert_eq!(
            paths("fn f() { crate::a::b(x.y::<u8>()); super::c::D { }; $crate::m::n!(); Self::new(); <T as self::t::U>::V; }"),
            ["crate::a::b", "super::c::D", "$crate::m::n", "Self::new", "self::t::U"]
        );
        // visibility and attributes are not dependencies
        assert_eq!(
            paths("pub(in crate::a) fn f() {} #[allow(clippy::x)] fn g() {}"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn test_only_items_are_skipped() {
        let src = "#[cfg(test)]\n#[macro_use]\nmod testing;\n\
                   mod real;\n\
                   #[cfg(test)] pub(crate) mod helpers { use crate::x::y; }\n\
                   #[cfg(all(test, feature = \"z\"))] fn t() { crate::p::q(); }\n\
                   #[cfg(not(test))] fn u() { crate::kept::k(); }\n\
                   #[cfg(test)] use crate::t::u;\n\
                   mod inline { use crate::w::v; }\n\
                   #[cfg(test)]\nmod tests;";
        let t = lex(src);
        let b = scan(&t, 0, t.len());
        let names: Vec<&str> = b.mods.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["real", "inline"]);
        let texts: Vec<String> = b.refs.iter().map(Ref::text).collect();
        assert_eq!(texts, ["crate::kept::k"]);
        let t = lex("#![cfg(test)]\nuse crate::a;");
        assert!(scan(&t, 0, t.len()).test_only);
    }

    fn files(list: &[(&str, &str)]) -> impl Fn(&Path) -> Option<String> {
        let map: HashMap<PathBuf, String> = list
            .iter()
            .map(|(p, s)| (PathBuf::from(p), s.to_string()))
            .collect();
        move |p: &Path| map.get(p).cloned()
    }

    #[test]
    fn module_tree_paths_resolve_and_cycles_are_found_per_level() {
        let read = files(&[
            (
                "src/lib.rs",
                "pub mod a; mod b; mod c { pub mod d; pub fn f() { crate::a::g(); } }\n\
                 #[path = \"gen/p.rs\"] mod p;",
            ),
            // #[path]: from the directory of the declaring file
            ("src/gen/p.rs", "fn f() {}"),
            // a/mod.rs: children next to it
            ("src/a/mod.rs", "mod x; mod y; pub fn g() {}"),
            // a → b (through an item) and x → y → x inside a
            (
                "src/a/x.rs",
                "use super::y::Thing; pub fn h() { crate::b::k(); }",
            ),
            (
                "src/a/y.rs",
                "use super::x as other; fn u() { other::h(); }",
            ),
            // b → c::d (inline module's file in b.rs's sibling dir c/)
            (
                "src/b.rs",
                "use crate::c::{d::{self}, f}; #[cfg(test)] mod tests; fn k() { d::z(); }",
            ),
            (
                "src/c/d.rs",
                "pub fn z() {} #[cfg(test)] mod t { use crate::a::x; }",
            ),
        ]);
        let c = Crate::load("t", Path::new("src/lib.rs"), &read).unwrap();
        let names: Vec<&str> = c.mods.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(names, ["", "a", "a::x", "a::y", "b", "c", "c::d", "p"]);
        let edges = c.edges();
        let listed: Vec<(String, String, usize)> = edges
            .iter()
            .map(|e| {
                (
                    c.label(e.from).to_string(),
                    c.label(e.to).to_string(),
                    e.line,
                )
            })
            .collect();
        assert!(listed.contains(&("a::x".into(), "a::y".into(), 1)));
        assert!(listed.contains(&("a::y".into(), "a::x".into(), 1)));
        assert!(listed.contains(&("a::x".into(), "b".into(), 1)));
        assert!(listed.contains(&("b".into(), "c::d".into(), 1)));
        assert!(listed.contains(&("b".into(), "c".into(), 1)));
        assert!(listed.contains(&("c".into(), "a".into(), 1)));
        let levels = c.levels(&edges);
        let at = |l: &str| {
            let l = c.mods.iter().position(|m| m.path == l).unwrap();
            let mut adj: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
            for &(a, b) in levels[&l].keys() {
                adj.entry(a).or_default().insert(b);
            }
            sccs(&adj)
                .into_iter()
                .filter(|s| s.len() > 1)
                .map(|s| {
                    s.iter()
                        .map(|&m| c.label(m).to_string())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        // root: a → b → c → a; inside a: x ⇄ y
        assert_eq!(at(""), [["a", "b", "c"]]);
        assert_eq!(at("a"), [["a::x", "a::y"]]);
    }

    #[test]
    fn sccs_and_covering_cycles() {
        let adj: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::from([
            (1, BTreeSet::from([2])),
            (2, BTreeSet::from([1, 3])),
            (3, BTreeSet::from([4])),
            (4, BTreeSet::from([2, 5])),
            (6, BTreeSet::from([6])),
        ]);
        assert_eq!(sccs(&adj), [vec![1, 2, 3, 4], vec![5], vec![6]]);
        let cycles = covering_cycles(&[1, 2, 3, 4], &adj);
        assert_eq!(cycles, [vec![1, 2], vec![2, 3, 4]]);
        // no component of more than one node in a DAG
        let dag = BTreeMap::from([(1, BTreeSet::from([2, 3])), (2, BTreeSet::from([3]))]);
        assert!(sccs(&dag).iter().all(|s| s.len() == 1));
    }
}
