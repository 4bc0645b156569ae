//! Regular expressions with JavaScript's meaning that cannot stall a pico.
//!
//! A pattern is read once ([`parse`]) and run by one of two engines:
//!
//! - [`linear`]: the `regex-automata` crate, time linear in the input,
//!   for every pattern without back references, lookaround or ASCII
//!   `\B` — and only where its answer is JavaScript's (see
//!   [`linear::Linear`]);
//! - [`backtrack`]: a backtracking machine for the rest, each instruction
//!   a step taken from a [`Budget`] the evaluator draws from `--max-ops`.
//!   When the budget runs out the search stops with [`Stop`], which the
//!   caller turns into a runtime error.
//!
//! Where the linear engine knows whether there is a match but not
//! JavaScript's captures (a group inside a repetition, a repetition that
//! can match the empty string), it finds the match's start and the
//! backtracker only fills the captures from there. A search that fails
//! never backtracks.

pub mod backtrack;
pub mod linear;
pub mod parse;

pub use backtrack::{Budget, Stop};
use std::ops::Range;

/// Steps after which an evaluation, or one search, counts as long
/// (`Host::long_work_hook`).
pub const LONG_WORK_STEPS: u64 = 1 << 17;

/// Steps a search may take when no evaluation gives a budget (event
/// expressions, `like` in the library's own tests).
pub const DEFAULT_STEPS: u64 = 1_000_000;

/// A match: the whole range, the capture groups (1..) and the named ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The whole match.
    pub range: Range<usize>,
    /// Groups 1.., `None` when one took no part.
    pub groups: Vec<Option<Range<usize>>>,
    /// Named groups.
    pub names: Vec<(String, Option<Range<usize>>)>,
}

/// Which engine answers a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The linear engine alone.
    Linear,
    /// Linear to find the match, the backtracker for its captures.
    LinearThenBacktrack,
    /// The backtracker alone.
    Backtrack,
}

/// A compiled pattern.
pub struct Compiled {
    names: Vec<(String, usize)>,
    linear: Option<linear::Linear>,
    program: backtrack::Program,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("linear", &self.linear.is_some())
            .finish()
    }
}

impl Compiled {
    /// Reads and compiles `source` (a pattern regress accepted).
    pub fn new(source: &str, ignore_case: bool, multiline: bool) -> Result<Compiled, String> {
        let p = parse::parse(source, ignore_case, multiline)?;
        Ok(Compiled {
            linear: linear::build(&p),
            program: backtrack::Program::new(&p),
            names: p.names,
        })
    }

    /// The engine that answers a search of `text` wanting captures or not.
    pub fn engine(&self, text: &str, captures: bool) -> Engine {
        match &self.linear {
            Some(l) if !(l.line_anchors && text.contains(['\r', '\u{2028}', '\u{2029}'])) => {
                if !captures || l.captures_exact {
                    Engine::Linear
                } else {
                    Engine::LinearThenBacktrack
                }
            }
            _ => Engine::Backtrack,
        }
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str, budget: &mut Budget) -> Result<bool, Stop> {
        match (self.engine(text, false), &self.linear) {
            (Engine::Linear, Some(l)) => Ok(l.regex.is_match(text)),
            _ => Ok(self.program.find_at(text, 0, false, budget)?.is_some()),
        }
    }

    /// The first match at or after byte `start`.
    pub fn find_at(
        &self,
        text: &str,
        start: usize,
        budget: &mut Budget,
    ) -> Result<Option<Match>, Stop> {
        if start > text.len() {
            return Ok(None);
        }
        let regs = match (self.engine(text, true), &self.linear) {
            (Engine::Linear, Some(l)) => {
                let mut caps = l.regex.create_captures();
                let input = regex_automata::Input::new(text).span(start..text.len());
                l.regex.search_captures(&input, &mut caps);
                if !caps.is_match() {
                    return Ok(None);
                }
                let mut regs = Vec::with_capacity(2 * caps.group_len());
                for g in 0..caps.group_len() {
                    match caps.get_group(g) {
                        Some(span) => regs.extend([span.start, span.end]),
                        None => regs.extend([usize::MAX, usize::MAX]),
                    }
                }
                regs
            }
            (Engine::LinearThenBacktrack, Some(l)) => {
                let input = regex_automata::Input::new(text).span(start..text.len());
                let Some(m) = l.regex.search(&input) else {
                    return Ok(None);
                };
                match self.program.find_at(text, m.start(), true, budget)? {
                    Some(regs) => regs,
                    None => return Ok(None),
                }
            }
            _ => match self.program.find_at(text, start, false, budget)? {
                Some(regs) => regs,
                None => return Ok(None),
            },
        };
        let range = |g: usize| {
            let (s, e) = (regs[2 * g], regs[2 * g + 1]);
            (s != usize::MAX && e != usize::MAX && s <= e).then_some(s..e)
        };
        Ok(Some(Match {
            range: range(0).unwrap_or(start..start),
            groups: (1..regs.len() / 2).map(range).collect(),
            names: self
                .names
                .iter()
                .map(|(n, i)| (n.clone(), range(*i)))
                .collect(),
        }))
    }

    /// The first match.
    pub fn find(&self, text: &str, budget: &mut Budget) -> Result<Option<Match>, Stop> {
        self.find_at(text, 0, budget)
    }

    /// Every match, as JavaScript's global flag finds them: after an
    /// empty match the next search starts one character on.
    pub fn find_all(&self, text: &str, budget: &mut Budget) -> Result<Vec<Match>, Stop> {
        let mut out = Vec::new();
        let mut at = 0;
        while at <= text.len() {
            let Some(m) = self.find_at(text, at, budget)? else {
                break;
            };
            at = if m.range.is_empty() {
                m.range.end + text[m.range.end..].chars().next().map_or(1, char::len_utf8)
            } else {
                m.range.end
            };
            out.push(m);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
