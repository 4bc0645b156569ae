//! The formatter's output: tokens written with the whitespace the printer
//! asks for, two-space indentation, comments recovered from the source
//! between two tokens, and blank lines kept (at most one) where the
//! printer allows them.

use crate::syntax::grammar::Rule as R;

/// Spaces per indentation level.
const INDENT: &str = "  ";

/// Blank lines before a token that starts a line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Blank {
    /// never (the first entry of a block, a closing bracket)
    Never,
    /// one when the source had at least one
    Keep,
    /// always one (between rules)
    Force,
}

/// What comes before the next token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pend {
    /// the spacing table; a line break where the source had one
    Auto,
    /// one space
    Space,
    /// nothing
    Tight,
    /// a new line at this level
    Line(usize, Blank),
}

/// A printed token: its text and the grammar rule it belongs to (its own
/// for a leaf, the enclosing rule's for punctuation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok<'s> {
    pub text: &'s str,
    pub rule: R,
    /// punctuation between the children of `rule`
    pub lit: bool,
}

pub(super) struct Out<'s> {
    src: &'s str,
    buf: String,
    /// the level of the entry being printed: continuation lines get one more
    pub indent: usize,
    /// the level of the current output line
    pub line_level: usize,
    /// where the last printed token (or comment) ends in the source
    last_end: usize,
    prev: Option<Tok<'s>>,
    pub pend: Pend,
    /// a `//` comment (or a block comment ending its line) was printed
    need_line: bool,
    /// brackets opened and not closed yet
    pub depth: usize,
    /// `depth` where the entry being printed starts: a continuation line
    /// is indented one more level per bracket opened since
    pub base_depth: usize,
}

/// A comment in a gap of the source: its text and byte range.
struct Comment {
    start: usize,
    end: usize,
}

/// The comments in `gap` (whitespace and comments only), as ranges
/// relative to `gap`.
fn comments(gap: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < gap.len() {
        let rest = &gap[i..];
        if let Some(r) = rest.strip_prefix("//") {
            let len = 2 + r.find(['\n', '\r']).unwrap_or(r.len());
            out.push(Comment {
                start: i,
                end: i + len,
            });
            i += len;
        } else if let Some(r) = rest.strip_prefix("/*") {
            let len = 2 + r.find("*/").map_or(r.len(), |j| j + 2);
            out.push(Comment {
                start: i,
                end: i + len,
            });
            i += len;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

fn newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

/// Whether a space goes between two tokens on one line.
fn spaced(p: &Tok, n: &Tok) -> bool {
    use R::*;
    if n.lit && matches!(n.text, "," | ";" | ")" | "]" | "." | ":") {
        return false;
    }
    if p.lit && matches!(p.text, "(" | "[" | ".") {
        return false;
    }
    if p.lit && p.text == ":" {
        return p.rule == map_entry;
    }
    if !p.lit && matches!(p.rule, op_neg | op_pos) {
        return false;
    }
    if p.lit && p.text == "{" && matches!(p.rule, path_get | persistent_path | map) {
        return false;
    }
    if n.lit && n.text == "(" {
        return !matches!(
            n.rule,
            call_args | setting | params | ev_group | ev_between | aggregator
        );
    }
    if n.lit && n.text == "[" {
        return !matches!(n.rule, index_get | persistent_path);
    }
    if n.lit && n.text == "{" {
        return !matches!(n.rule, path_get | persistent_path);
    }
    if n.lit && n.text == "}" && matches!(n.rule, path_get | persistent_path | map) {
        return false;
    }
    true
}

/// Whether a line break of the source is kept before `n` (after `p`).
fn breakable(p: &Tok, n: &Tok) -> bool {
    if n.lit && matches!(n.text, "," | ";" | ")" | "]" | "}" | ":") {
        return false;
    }
    if p.lit && matches!(p.text, "(" | "[" | "{" | ":" | ".") {
        return false;
    }
    p.lit || !matches!(p.rule, R::op_neg | R::op_pos)
}

impl<'s> Out<'s> {
    pub fn new(src: &'s str) -> Out<'s> {
        Out {
            src,
            buf: String::with_capacity(src.len() + src.len() / 8),
            indent: 0,
            line_level: 0,
            last_end: 0,
            prev: None,
            pend: Pend::Line(0, Blank::Keep),
            need_line: false,
            depth: 0,
            base_depth: 0,
        }
    }

    /// Whether the source between `a` and `b` holds a line break.
    pub fn gap_breaks(&self, a: usize, b: usize) -> bool {
        a < b && self.src[a..b].contains('\n')
    }

    /// Whether the source between `a` and `b` holds a comment.
    pub fn gap_comments(&self, a: usize, b: usize) -> bool {
        a < b && !comments(&self.src[a..b]).is_empty()
    }

    /// The level of a continuation line.
    fn cont(&self) -> usize {
        self.indent + 1 + self.depth.saturating_sub(self.base_depth)
    }

    fn after_open(&self) -> bool {
        self.buf.trim_end().ends_with(['{', '(', '['])
    }

    fn new_line(&mut self, level: usize, blank: bool) {
        if !self.buf.is_empty() {
            while self.buf.ends_with(' ') {
                self.buf.pop();
            }
            self.buf.push('\n');
            if blank && !self.after_open_line() {
                self.buf.push('\n');
            }
        }
        for _ in 0..level {
            self.buf.push_str(INDENT);
        }
        self.line_level = level;
    }

    /// After `new_line`'s first `\n`: whether the line before ends with an
    /// opening bracket (no blank line right after one).
    fn after_open_line(&self) -> bool {
        self.buf[..self.buf.len() - 1]
            .trim_end_matches(' ')
            .ends_with(['{', '(', '['])
    }

    /// Prints the comments of the source before `upto`: one that started
    /// its line in the source on a line of its own (at the level of the
    /// pending line, or a continuation), one that did not after a space.
    pub fn flush_comments(&mut self, upto: usize) {
        if upto <= self.last_end {
            return;
        }
        let gap_start = self.last_end;
        let gap = &self.src[gap_start..upto];
        for c in comments(gap) {
            let before = &self.src[self.last_end..gap_start + c.start];
            let text = self.src[gap_start + c.start..gap_start + c.end].trim_end();
            if self.buf.is_empty() {
                // the file's first lines
            } else if newlines(before) > 0 || self.need_line {
                let (level, mode) = match self.pend {
                    Pend::Line(l, b) => (l, b),
                    _ => (self.cont(), Blank::Keep),
                };
                // a comment before a rule is the rule's: the blank line
                // goes before the comment
                let blank = (mode == Blank::Force || newlines(before) >= 2) && !self.after_open();
                self.new_line(level, blank);
                if mode == Blank::Force {
                    self.pend = Pend::Line(level, Blank::Keep);
                }
            } else {
                self.buf.push(' ');
            }
            self.buf.push_str(text);
            self.last_end = gap_start + c.end;
            let after = &self.src[self.last_end..upto];
            self.need_line = text.starts_with("//")
                || after
                    .split_once('\n')
                    .is_some_and(|(line, _)| line.trim().is_empty() && !line.contains("/*"));
        }
    }

    /// Prints one token with the pending whitespace.
    pub fn tok(&mut self, tok: Tok<'s>, start: usize, end: usize) {
        self.flush_comments(start);
        let gap = &self.src[self.last_end.min(start)..start];
        let mut pend = self.pend;
        if self.need_line && !matches!(pend, Pend::Line(..)) {
            pend = Pend::Line(self.cont(), Blank::Never);
        }
        match pend {
            Pend::Line(level, blank) => {
                let blank = match blank {
                    Blank::Never => false,
                    Blank::Keep => newlines(gap) >= 2,
                    Blank::Force => true,
                };
                self.new_line(level, blank);
            }
            Pend::Space => self.buf.push(' '),
            Pend::Tight => {}
            Pend::Auto => {
                if let Some(prev) = &self.prev {
                    if newlines(gap) > 0 && breakable(prev, &tok) {
                        self.new_line(self.cont(), false);
                    } else if spaced(prev, &tok) {
                        self.buf.push(' ');
                    }
                }
            }
        }
        self.buf.push_str(tok.text);
        if tok.lit {
            match tok.text {
                "(" | "[" | "{" => self.depth += 1,
                ")" | "]" | "}" => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        self.last_end = end;
        self.prev = Some(tok);
        self.pend = Pend::Auto;
        self.need_line = false;
    }

    /// The formatted text: the comments after the ruleset, one final newline.
    pub fn finish(mut self) -> String {
        self.pend = Pend::Line(0, Blank::Keep);
        self.flush_comments(self.src.len());
        while self.buf.ends_with([' ', '\n']) {
            self.buf.pop();
        }
        self.buf.push('\n');
        self.buf
    }
}
