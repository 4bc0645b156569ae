//! The linear-time engine: a read pattern as a `regex-automata` regular
//! expression (built from its syntax tree, so no second reading of the
//! pattern), when it has nothing that needs backtracking.

use super::parse::{Node, Pattern};
use regex_automata::meta;
use regex_syntax::hir::{self, Class, Hir, Look};

/// What the linear engine can answer for a pattern.
pub struct Linear {
    /// The compiled expression.
    pub regex: meta::Regex,
    /// Its matches are JavaScript's (start and end).
    pub range_exact: bool,
    /// Its captures are JavaScript's too.
    pub captures_exact: bool,
    /// It has `^` or `$` under `m`: exact only on text whose line
    /// terminators are all `\n`.
    pub line_anchors: bool,
}

/// Whether `node` can match the empty string.
fn nullable(node: &Node) -> bool {
    match node {
        Node::Empty | Node::Start | Node::End | Node::WordBoundary(_) | Node::BackRef(_) => true,
        Node::Look { .. } => true,
        Node::Set(_) => false,
        Node::Concat(v) => v.iter().all(nullable),
        Node::Alt(v) => v.iter().any(nullable),
        Node::Group(_, n) => nullable(n),
        Node::Repeat { node, min, .. } => *min == 0 || nullable(node),
    }
}

fn has_group(node: &Node) -> bool {
    match node {
        Node::Group(Some(_), _) => true,
        Node::Group(None, n) | Node::Repeat { node: n, .. } | Node::Look { node: n, .. } => {
            has_group(n)
        }
        Node::Concat(v) | Node::Alt(v) => v.iter().any(has_group),
        _ => false,
    }
}

struct Walk {
    ok: bool,
    range_exact: bool,
    captures_exact: bool,
    line_anchors: bool,
    multiline: bool,
}

impl Walk {
    fn hir(&mut self, node: &Node) -> Hir {
        match node {
            Node::Empty => Hir::empty(),
            Node::Set(c) => Hir::class(Class::Unicode(c.clone())),
            Node::Concat(v) => Hir::concat(v.iter().map(|n| self.hir(n)).collect()),
            Node::Alt(v) => Hir::alternation(v.iter().map(|n| self.hir(n)).collect()),
            Node::Group(None, n) => self.hir(n),
            Node::Group(Some(i), n) => Hir::capture(hir::Capture {
                index: *i as u32,
                name: None,
                sub: Box::new(self.hir(n)),
            }),
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => {
                // JavaScript fails an empty iteration past the minimum
                // (and so may take another path); it also clears a
                // repeated group's captures at each iteration.
                if *max != Some(*min) && nullable(node) {
                    self.range_exact = false;
                    self.captures_exact = false;
                }
                if max.is_none_or(|m| m > 1) && has_group(node) {
                    self.captures_exact = false;
                }
                Hir::repetition(hir::Repetition {
                    min: *min,
                    max: *max,
                    greedy: *greedy,
                    sub: Box::new(self.hir(node)),
                })
            }
            Node::Start => {
                self.line_anchors |= self.multiline;
                Hir::look(if self.multiline {
                    Look::StartLF
                } else {
                    Look::Start
                })
            }
            Node::End => {
                self.line_anchors |= self.multiline;
                Hir::look(if self.multiline {
                    Look::EndLF
                } else {
                    Look::End
                })
            }
            Node::WordBoundary(true) => Hir::look(Look::WordAscii),
            // ASCII `\B` could match inside a UTF-8 sequence; back
            // references and lookaround are not regular.
            Node::WordBoundary(false) | Node::BackRef(_) | Node::Look { .. } => {
                self.ok = false;
                Hir::empty()
            }
        }
    }
}

/// The linear engine for `p`, or `None` when it needs backtracking (or
/// is too large for the linear engine's size limits).
pub fn build(p: &Pattern) -> Option<Linear> {
    let mut w = Walk {
        ok: true,
        range_exact: true,
        captures_exact: true,
        line_anchors: false,
        multiline: p.multiline,
    };
    let body = w.hir(&p.node);
    if !w.ok {
        return None;
    }
    let regex = meta::Regex::builder().build_from_hir(&body).ok()?;
    Some(Linear {
        regex,
        range_exact: w.range_exact,
        captures_exact: w.captures_exact,
        line_anchors: w.line_anchors,
    })
}
