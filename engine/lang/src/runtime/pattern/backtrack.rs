//! The backtracking engine, for what a linear-time engine cannot do
//! (back references, lookaround, ASCII `\B`) and for JavaScript's exact
//! captures where the linear engine's differ. A small machine with an
//! explicit stack: every instruction it executes is one step taken from a
//! [`Budget`], and its stack is bounded, so no input makes it run longer
//! than the budget or use more than [`MAX_STACK`] entries.

use super::parse::{canonicalize, contains, is_line_terminator, Node, Pattern};
use regex_syntax::hir::ClassUnicode;

/// Backtracking entries one search may keep (each 24 bytes at most).
pub const MAX_STACK: usize = 1 << 20;

/// Steps a search may take; what it took.
#[derive(Debug)]
pub struct Budget {
    /// Steps still allowed.
    pub left: u64,
    /// Steps taken so far.
    pub used: u64,
    /// Called once when the search has taken
    /// [`crate::runtime::pattern::LONG_WORK_STEPS`] steps (`Host::long_work_hook`).
    hook: Option<fn()>,
}

impl Budget {
    /// A budget of `steps`.
    pub fn new(steps: u64) -> Budget {
        Budget {
            left: steps,
            used: 0,
            hook: None,
        }
    }

    /// The same budget, calling `hook` once if the search runs long.
    pub fn with_hook(mut self, hook: Option<fn()>) -> Budget {
        self.hook = hook;
        self
    }

    fn tick(&mut self) -> Result<(), Stop> {
        if self.left == 0 {
            return Err(Stop::Steps);
        }
        self.left -= 1;
        self.used += 1;
        if self.used == crate::runtime::pattern::LONG_WORK_STEPS {
            if let Some(hook) = self.hook {
                hook();
            }
        }
        Ok(())
    }
}

/// Why a search stopped without an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The step budget ran out.
    Steps,
    /// The backtracking stack reached [`MAX_STACK`].
    Stack,
}

const NONE: usize = usize::MAX;

#[derive(Debug)]
enum Inst {
    Set(usize),
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Start,
    End,
    Word(bool),
    BackRef(usize),
    Look {
        ahead: bool,
        negate: bool,
        start: usize,
    },
    LoopInit(usize),
    Loop {
        ctr: usize,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        body: usize,
        exit: usize,
    },
    LoopBody {
        ctr: usize,
        pos: usize,
        min: u32,
        clear: (usize, usize),
    },
    LoopEnd {
        ctr: usize,
        pos: usize,
        head: usize,
    },
    Match,
}

/// A compiled pattern for the machine.
#[derive(Debug)]
pub struct Program {
    insts: Vec<Inst>,
    sets: Vec<ClassUnicode>,
    /// Registers: 2 per group (0 the whole match), then loop registers.
    regs: usize,
    groups: usize,
    ignore_case: bool,
    multiline: bool,
}

enum Frame {
    Try(usize, usize),
    Restore(usize, usize),
}

impl Program {
    /// Compiles a read pattern.
    pub fn new(p: &Pattern) -> Program {
        let mut c = Compiler {
            insts: Vec::new(),
            sets: Vec::new(),
            regs: 2 * (p.groups + 1),
        };
        c.insts.push(Inst::Save(0));
        c.node(&p.node);
        c.insts.push(Inst::Save(1));
        c.insts.push(Inst::Match);
        Program {
            insts: c.insts,
            sets: c.sets,
            regs: c.regs,
            groups: p.groups,
            ignore_case: p.ignore_case,
            multiline: p.multiline,
        }
    }

    /// The leftmost match at or after byte `start` (a character
    /// boundary): its capture registers (start, end per group, `NONE`
    /// for a group that did not take part).
    pub fn find_at(
        &self,
        text: &str,
        start: usize,
        anchored: bool,
        budget: &mut Budget,
    ) -> Result<Option<Vec<usize>>, Stop> {
        let mut regs = vec![NONE; self.regs];
        let mut stack = Vec::new();
        let mut at = start;
        loop {
            regs.fill(NONE);
            if self
                .run(text, 0, at, None, &mut regs, &mut stack, budget)?
                .is_some()
            {
                regs.truncate(2 * (self.groups + 1));
                return Ok(Some(regs));
            }
            if anchored {
                return Ok(None);
            }
            match text[at..].chars().next() {
                Some(c) => at += c.len_utf8(),
                None => return Ok(None),
            }
        }
    }

    fn is_word(text: &str, at: usize, before: bool) -> bool {
        let c = if before {
            text[..at].chars().next_back()
        } else {
            text[at..].chars().next()
        };
        c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Runs from `pc` at `pos` until `Match` (at `must_end` if given):
    /// the end, or `None`. `stack` is scratch space, left as found.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        text: &str,
        pc: usize,
        pos: usize,
        must_end: Option<usize>,
        regs: &mut [usize],
        stack: &mut Vec<Frame>,
        budget: &mut Budget,
    ) -> Result<Option<usize>, Stop> {
        let base = stack.len();
        let (mut pc, mut pos) = (pc, pos);
        let result = loop {
            budget.tick()?;
            let ok = match &self.insts[pc] {
                Inst::Set(i) => match text[pos..].chars().next() {
                    Some(c) if contains(&self.sets[*i], c) => {
                        pos += c.len_utf8();
                        pc += 1;
                        true
                    }
                    _ => false,
                },
                Inst::Split(a, b) => {
                    stack.push(Frame::Try(*b, pos));
                    pc = *a;
                    true
                }
                Inst::Jmp(a) => {
                    pc = *a;
                    true
                }
                Inst::Save(r) => {
                    stack.push(Frame::Restore(*r, regs[*r]));
                    regs[*r] = pos;
                    pc += 1;
                    true
                }
                Inst::Start => {
                    let ok = pos == 0
                        || (self.multiline
                            && text[..pos]
                                .chars()
                                .next_back()
                                .is_some_and(is_line_terminator));
                    pc += 1;
                    ok
                }
                Inst::End => {
                    let ok = pos == text.len()
                        || (self.multiline
                            && text[pos..].chars().next().is_some_and(is_line_terminator));
                    pc += 1;
                    ok
                }
                Inst::Word(b) => {
                    let boundary =
                        Self::is_word(text, pos, true) != Self::is_word(text, pos, false);
                    pc += 1;
                    boundary == *b
                }
                Inst::BackRef(g) => {
                    let (s, e) = (regs[2 * g], regs[2 * g + 1]);
                    pc += 1;
                    if s == NONE || e == NONE || s > e {
                        true
                    } else {
                        match self.back_ref(text, &text[s..e], pos, budget)? {
                            Some(end) => {
                                pos = end;
                                true
                            }
                            None => false,
                        }
                    }
                }
                Inst::Look {
                    ahead,
                    negate,
                    start,
                } => {
                    let saved: Vec<usize> = regs.to_vec();
                    let found = if *ahead {
                        self.run(text, *start, pos, None, regs, stack, budget)?
                            .is_some()
                    } else {
                        let mut found = false;
                        let mut q = 0;
                        loop {
                            budget.tick()?;
                            if self
                                .run(text, *start, q, Some(pos), regs, stack, budget)?
                                .is_some()
                            {
                                found = true;
                                break;
                            }
                            if q >= pos {
                                break;
                            }
                            q += text[q..].chars().next().map_or(1, char::len_utf8);
                        }
                        found
                    };
                    pc += 1;
                    if found && !*negate {
                        // Keep the captures made inside, undone on
                        // backtracking.
                        for (r, old) in saved.iter().enumerate() {
                            if regs[r] != *old {
                                stack.push(Frame::Restore(r, *old));
                            }
                        }
                        true
                    } else {
                        regs.copy_from_slice(&saved);
                        found != *negate
                    }
                }
                Inst::LoopInit(ctr) => {
                    stack.push(Frame::Restore(*ctr, regs[*ctr]));
                    regs[*ctr] = 0;
                    pc += 1;
                    true
                }
                Inst::Loop {
                    ctr,
                    min,
                    max,
                    greedy,
                    body,
                    exit,
                } => {
                    let n = regs[*ctr];
                    if max.is_some_and(|m| n >= m as usize) {
                        pc = *exit;
                    } else if n < *min as usize {
                        pc = *body;
                    } else if *greedy {
                        stack.push(Frame::Try(*exit, pos));
                        pc = *body;
                    } else {
                        stack.push(Frame::Try(*body, pos));
                        pc = *exit;
                    }
                    true
                }
                Inst::LoopBody {
                    ctr,
                    pos: preg,
                    min,
                    clear,
                } => {
                    stack.push(Frame::Restore(*preg, regs[*preg]));
                    regs[*preg] = if regs[*ctr] >= *min as usize {
                        pos
                    } else {
                        NONE
                    };
                    for (r, reg) in regs.iter_mut().enumerate().take(clear.1).skip(clear.0) {
                        if *reg != NONE {
                            stack.push(Frame::Restore(r, *reg));
                            *reg = NONE;
                        }
                    }
                    pc += 1;
                    true
                }
                Inst::LoopEnd {
                    ctr,
                    pos: preg,
                    head,
                } => {
                    if regs[*preg] == pos {
                        // An empty iteration past the minimum fails.
                        false
                    } else {
                        stack.push(Frame::Restore(*ctr, regs[*ctr]));
                        regs[*ctr] += 1;
                        pc = *head;
                        true
                    }
                }
                Inst::Match => {
                    if must_end.is_none_or(|e| e == pos) {
                        break Some(pos);
                    }
                    false
                }
            };
            if stack.len() > MAX_STACK {
                return Err(Stop::Stack);
            }
            if ok {
                continue;
            }
            // Backtrack.
            let resumed = loop {
                if stack.len() == base {
                    break false;
                }
                match stack.pop().unwrap() {
                    Frame::Restore(r, old) => regs[r] = old,
                    Frame::Try(p, q) => {
                        pc = p;
                        pos = q;
                        break true;
                    }
                }
            };
            if !resumed {
                break None;
            }
        };
        // Lookaround is atomic, and a match ends the search: forget the
        // choices left (their register changes stay).
        stack.truncate(base);
        Ok(result)
    }

    fn back_ref(
        &self,
        text: &str,
        captured: &str,
        pos: usize,
        budget: &mut Budget,
    ) -> Result<Option<usize>, Stop> {
        let mut rest = text[pos..].chars();
        let mut end = pos;
        for a in captured.chars() {
            budget.tick()?;
            match rest.next() {
                Some(b) if a == b || (self.ignore_case && canonicalize(a) == canonicalize(b)) => {
                    end += b.len_utf8()
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(end))
    }
}

struct Compiler {
    insts: Vec<Inst>,
    sets: Vec<ClassUnicode>,
    regs: usize,
}

/// The lowest and highest group index inside `node`, if any.
fn group_range(node: &Node) -> Option<(usize, usize)> {
    fn walk(n: &Node, acc: &mut Option<(usize, usize)>) {
        match n {
            Node::Group(i, sub) => {
                if let Some(i) = i {
                    *acc = Some(match *acc {
                        None => (*i, *i),
                        Some((a, b)) => (a.min(*i), b.max(*i)),
                    });
                }
                walk(sub, acc);
            }
            Node::Concat(v) | Node::Alt(v) => v.iter().for_each(|x| walk(x, acc)),
            Node::Repeat { node, .. } | Node::Look { node, .. } => walk(node, acc),
            _ => {}
        }
    }
    let mut acc = None;
    walk(node, &mut acc);
    acc
}

impl Compiler {
    fn emit(&mut self, i: Inst) -> usize {
        self.insts.push(i);
        self.insts.len() - 1
    }

    fn node(&mut self, n: &Node) {
        match n {
            Node::Empty => {}
            Node::Set(c) => {
                self.sets.push(c.clone());
                let i = self.sets.len() - 1;
                self.emit(Inst::Set(i));
            }
            Node::Concat(v) => v.iter().for_each(|x| self.node(x)),
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (k, alt) in v.iter().enumerate() {
                    if k + 1 < v.len() {
                        let split = self.emit(Inst::Split(0, 0));
                        self.node(alt);
                        jumps.push(self.emit(Inst::Jmp(0)));
                        let next = self.insts.len();
                        self.insts[split] = Inst::Split(split + 1, next);
                    } else {
                        self.node(alt);
                    }
                }
                let end = self.insts.len();
                for j in jumps {
                    self.insts[j] = Inst::Jmp(end);
                }
            }
            Node::Group(None, sub) => self.node(sub),
            Node::Group(Some(i), sub) => {
                self.emit(Inst::Save(2 * i));
                self.node(sub);
                self.emit(Inst::Save(2 * i + 1));
            }
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => {
                let (ctr, pos) = (self.regs, self.regs + 1);
                self.regs += 2;
                let clear = group_range(node).map_or((0, 0), |(a, b)| (2 * a, 2 * b + 2));
                self.emit(Inst::LoopInit(ctr));
                let head = self.emit(Inst::Jmp(0));
                let body = self.emit(Inst::LoopBody {
                    ctr,
                    pos,
                    min: *min,
                    clear,
                });
                self.node(node);
                self.emit(Inst::LoopEnd { ctr, pos, head });
                let exit = self.insts.len();
                self.insts[head] = Inst::Loop {
                    ctr,
                    min: *min,
                    max: *max,
                    greedy: *greedy,
                    body,
                    exit,
                };
            }
            Node::Start => {
                self.emit(Inst::Start);
            }
            Node::End => {
                self.emit(Inst::End);
            }
            Node::WordBoundary(b) => {
                self.emit(Inst::Word(*b));
            }
            Node::BackRef(g) => {
                self.emit(Inst::BackRef(*g));
            }
            Node::Look {
                ahead,
                negate,
                node,
            } => {
                // The sub-program follows a jump over it.
                let look = self.emit(Inst::Jmp(0));
                let skip = self.emit(Inst::Jmp(0));
                let start = self.insts.len();
                self.node(node);
                self.emit(Inst::Match);
                let after = self.insts.len();
                self.insts[look] = Inst::Look {
                    ahead: *ahead,
                    negate: *negate,
                    start,
                };
                self.insts[skip] = Inst::Jmp(after);
            }
        }
    }
}
