//! What each grammar rule looks like (docs/fmt.md): blocks that always
//! break (ruleset, meta, global, rule, pre, postlude blocks), groups that
//! break when the source broke them right inside their brackets or
//! between their entries (maps, arrays, arguments, parameters, function
//! and defaction bodies, `every`/`sample`/`choose` blocks, event groups),
//! and everything else on one line with the spacing table of `out`,
//! keeping a line break of the source as a continuation line.

use super::out::{Blank, Out, Pend, Tok};
use crate::syntax::grammar::Rule as R;
use pest::iterators::Pair;

type P<'s> = Pair<'s, R>;

/// A child pair, or punctuation between children (text, start, end).
enum Item<'s> {
    P(P<'s>),
    L(&'s str, usize, usize),
}

impl Item<'_> {
    fn start(&self) -> usize {
        match self {
            Item::P(p) => p.as_span().start(),
            Item::L(_, s, _) => *s,
        }
    }

    fn end(&self) -> usize {
        match self {
            Item::P(p) => content_end(p),
            Item::L(_, _, e) => *e,
        }
    }
}

/// Rules printed as their source text.
fn is_leaf(r: R) -> bool {
    use R::*;
    matches!(
        r,
        word | ident
            | rid
            | number
            | int
            | string
            | sq_string
            | chevron
            | regex
            | regex_slash
            | regex_hash
            | js_literal
            | xdi_literal
            | boolean
            | null
            | time_unit
            | ev_type
            | ev_domain
            | agg_op
            | log_level
            | increment_op
    ) || {
        let name = format!("{r:?}");
        name.starts_with("k_") || name.starts_with("op_")
    }
}

/// Punctuation in `src[a..b]` (which holds only punctuation, whitespace
/// and comments), appended to `out`.
fn lex<'s>(src: &'s str, a: usize, b: usize, out: &mut Vec<Item<'s>>) {
    let mut i = a;
    while i < b {
        let rest = &src[i..b];
        let c = rest.chars().next().expect("i < b");
        if c.is_whitespace() || c == '\u{FEFF}' {
            i += c.len_utf8();
        } else if let Some(r) = rest.strip_prefix("//") {
            i += 2 + r.find('\n').unwrap_or(r.len());
        } else if let Some(r) = rest.strip_prefix("/*") {
            i += 2 + r.find("*/").map_or(r.len(), |j| j + 2);
        } else {
            let len = [":=", "=>", "<-", "+=", "-="]
                .iter()
                .find(|t| rest.starts_with(*t))
                .map_or(c.len_utf8(), |t| t.len());
            out.push(Item::L(&src[i..i + len], i, i + len));
            i += len;
        }
    }
}

/// The children and punctuation of a pair, in source order.
fn items<'s>(p: &P<'s>) -> Vec<Item<'s>> {
    let src = p.get_input();
    let mut out = Vec::new();
    let mut at = p.as_span().start();
    for c in p.clone().into_inner() {
        lex(src, at, c.as_span().start(), &mut out);
        at = c.as_span().end();
        out.push(Item::P(c));
    }
    lex(src, at, p.as_span().end(), &mut out);
    out
}

/// Where a pair's last token ends (its span may go on over layout).
fn content_end(p: &P) -> usize {
    if is_leaf(p.as_rule()) {
        return p.as_span().end();
    }
    match items(p).last() {
        Some(Item::L(_, _, e)) => *e,
        Some(Item::P(c)) => content_end(c),
        None => p.as_span().start(),
    }
}

/// The end of a classic `dispatch { ... }` body starting at `at` (the
/// grammar's `brace_skip`: nested braces, double-quoted strings).
fn brace_end(src: &str, at: usize) -> usize {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = at;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// How a bracketed construct breaks.
#[derive(Clone, Copy)]
enum Shape {
    /// always one entry per line; blank lines between entries as given
    Fixed(Blank),
    /// on one line unless the source broke it; spaces inside the brackets?
    Flex(bool),
}

pub(super) struct Printer<'s> {
    out: Out<'s>,
    src: &'s str,
}

impl<'s> Printer<'s> {
    pub fn new(src: &'s str) -> Printer<'s> {
        Printer {
            out: Out::new(src),
            src,
        }
    }

    pub fn finish(self) -> String {
        self.out.finish()
    }

    pub fn node(&mut self, p: P<'s>) {
        use R::*;
        let r = p.as_rule();
        if is_leaf(r) {
            let s = p.as_span();
            let tok = Tok {
                text: s.as_str(),
                rule: r,
                lit: false,
            };
            return self.out.tok(tok, s.start(), s.end());
        }
        match r {
            ruleset => self.block(p, "{", Shape::Fixed(Blank::Force)),
            meta_block | global_block | rule | prelude | stmt_block => {
                self.block(p, "{", Shape::Fixed(Blank::Keep))
            }
            every_block | sample_block | choose_block | bare_block | function_lit
            | defaction_lit => self.block(p, "{", Shape::Flex(true)),
            map => self.block(p, "{", Shape::Flex(false)),
            array => self.block(p, "[", Shape::Flex(false)),
            call_args | params | ev_group | ev_any => self.block(p, "(", Shape::Flex(false)),
            action_list => self.action_list(p),
            dispatch_block => self.dispatch(p),
            postlude_else | postlude_finally => {
                self.out.pend = Pend::Space;
                self.inline(p)
            }
            _ => self.inline(p),
        }
    }

    fn inline(&mut self, p: P<'s>) {
        let r = p.as_rule();
        for it in items(&p) {
            self.item(it, r);
        }
    }

    fn item(&mut self, it: Item<'s>, parent: R) {
        match it {
            Item::P(c) => self.node(c),
            Item::L(text, s, e) => self.out.tok(
                Tok {
                    text,
                    rule: parent,
                    lit: true,
                },
                s,
                e,
            ),
        }
    }

    /// `PREFIX OPEN entries CLOSE`, broken or on one line by `shape`.
    fn block(&mut self, p: P<'s>, open: &str, shape: Shape) {
        let r = p.as_rule();
        let mut its = items(&p);
        let oi = its
            .iter()
            .position(|i| matches!(i, Item::L(t, ..) if *t == open))
            .expect("the rule has its bracket");
        let close = its.pop().expect("a closing bracket");
        let body: Vec<Item<'s>> = its.drain(oi + 1..).collect();
        let opener = its.pop().expect("the opening bracket");
        let prefix = !its.is_empty();
        for it in its {
            self.item(it, r);
        }
        // entries: a child with the `,` or `;` after it (`return` joins
        // the expression after it)
        let mut entries: Vec<Vec<Item<'s>>> = Vec::new();
        for it in body {
            let join = match &it {
                Item::L(..) => !entries.is_empty(),
                Item::P(_) => entries
                    .last()
                    .and_then(|e| e.last())
                    .is_some_and(|l| matches!(l, Item::P(x) if x.as_rule() == R::k_return)),
            };
            if join {
                entries.last_mut().expect("not empty").push(it);
            } else {
                entries.push(vec![it]);
            }
        }
        let o_end = opener.end();
        let c_start = close.start();
        let broken = match shape {
            Shape::Fixed(_) => !entries.is_empty() || self.out.gap_comments(o_end, c_start),
            Shape::Flex(_) if entries.is_empty() => self.out.gap_comments(o_end, c_start),
            Shape::Flex(_) => {
                let mut at = o_end;
                let mut breaks = false;
                for e in &entries {
                    breaks |= self.out.gap_breaks(at, e[0].start());
                    at = e.last().expect("an entry has an item").end();
                }
                breaks || self.out.gap_breaks(at, c_start)
            }
        };
        if open == "{" && prefix {
            self.out.pend = Pend::Space;
        }
        self.item(opener, r);
        if !broken {
            let inner = matches!(shape, Shape::Flex(true)) && !entries.is_empty();
            for (k, e) in entries.into_iter().enumerate() {
                self.out.pend = if k > 0 || inner {
                    Pend::Space
                } else {
                    Pend::Tight
                };
                for it in e {
                    self.item(it, r);
                }
            }
            self.out.pend = if inner { Pend::Space } else { Pend::Tight };
            self.item(close, r);
            return;
        }
        let between = match shape {
            Shape::Fixed(b) => b,
            Shape::Flex(_) => Blank::Keep,
        };
        let saved = (self.out.indent, self.out.base_depth);
        let level = self.out.line_level;
        self.out.indent = level + 1;
        self.out.base_depth = self.out.depth;
        for (k, e) in entries.into_iter().enumerate() {
            let blank = if k == 0 { Blank::Never } else { between };
            self.out.pend = Pend::Line(level + 1, blank);
            for it in e {
                self.item(it, r);
            }
        }
        self.out.pend = Pend::Line(level + 1, Blank::Keep);
        self.out.flush_comments(c_start);
        (self.out.indent, self.out.base_depth) = saved;
        self.out.pend = Pend::Line(level, Blank::Never);
        self.item(close, r);
    }

    /// Classic `a(); b()`: a line of its own for each action the source
    /// put on a new line.
    fn action_list(&mut self, p: P<'s>) {
        let r = p.as_rule();
        let mut prev_end = None;
        let mut level = None;
        for it in items(&p) {
            if let (Item::P(_), Some(end)) = (&it, prev_end) {
                self.out.pend = if self.out.gap_breaks(end, it.start()) {
                    Pend::Line(level.unwrap_or(self.out.line_level), Blank::Keep)
                } else {
                    Pend::Space
                };
            }
            let is_p = matches!(it, Item::P(_));
            let end = it.end();
            self.item(it, r);
            if is_p {
                level.get_or_insert(self.out.line_level);
            }
            prev_end = Some(end);
        }
    }

    /// Classic `dispatch { ... }`, ignored by the engine: kept as written.
    fn dispatch(&mut self, p: P<'s>) {
        let k = p.clone().into_inner().next().expect("the keyword");
        let start = k.as_span().end();
        self.node(k);
        let open = start + self.src[start..].find('{').expect("a body");
        let end = brace_end(self.src, open);
        self.out.pend = Pend::Space;
        self.out.tok(
            Tok {
                text: &self.src[open..end],
                rule: R::dispatch_block,
                lit: true,
            },
            open,
            end,
        );
    }
}
