//! From source text to the typed AST: runs the pest grammar
//! (`grammar/krl.pest`) and lowers its pairs into [`ast`] nodes, once.
//! Syntax errors become a [`Diagnostic`] whose message says what was
//! expected in plain words (see `expected`).

use super::ast::*;
use super::diag::Diagnostic;
use super::expected;
use super::grammar::{KrlParser, Rule as R};
use pest::iterators::Pair;
use pest::Parser as _;

type P<'i> = Pair<'i, R>;
type Result<T> = std::result::Result<T, Diagnostic>;

/// How deeply brackets may nest. The grammar is recursive (pest recurses
/// once per level, several frames deep), so nesting is bounded before
/// parsing: an error, never a stack overflow. Real rulesets nest < 20.
pub const MAX_NESTING: usize = 256;

/// How many operands one operator chain (`a + b + ...`, `x.f().g()...`,
/// `a or b or ...`) may have: each link is one level of the AST, which is
/// walked (and dropped) recursively.
pub const MAX_CHAIN: usize = 1024;

fn chain_too_long<T>(at: Span) -> Result<T> {
    err_at(
        at,
        format!("expression chain longer than {MAX_CHAIN} links: split it into declarations"),
    )
}

/// Stack that parsing and checking may need at [`MAX_NESTING`] (debug
/// builds use the most); callers on small stacks (test threads, tokio
/// workers) get a fresh segment of [`STACK_SIZE`] instead of overflowing.
pub(crate) const STACK_RED_ZONE: usize = 4 << 20;
/// See [`STACK_RED_ZONE`].
pub(crate) const STACK_SIZE: usize = 16 << 20;

/// Parses one ruleset.
pub fn parse_ruleset(src: &str) -> Result<Ruleset> {
    check_nesting(src)?;
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SIZE, || parse_ruleset_unchecked(src))
}

fn parse_ruleset_unchecked(src: &str) -> Result<Ruleset> {
    let mut pairs = match KrlParser::parse(R::file, src) {
        Ok(pairs) => pairs,
        Err(_) => return Err(expected::syntax_error(src)),
    };
    let file = pairs.next().expect("the file rule always yields one pair");
    let ruleset = file
        .into_inner()
        .next()
        .expect("file contains exactly one ruleset");
    build_ruleset(ruleset)
}

/// Parses a lone expression (tests, benchmarks, tools).
pub fn parse_expr(src: &str) -> Result<Expr> {
    check_nesting(src)?;
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SIZE, || parse_expr_unchecked(src))
}

fn parse_expr_unchecked(src: &str) -> Result<Expr> {
    let mut pairs = match KrlParser::parse(R::expr_file, src) {
        Ok(pairs) => pairs,
        Err(_) => return Err(expected::syntax_error_for(src, R::expr_file)),
    };
    let file = pairs.next().expect("expr_file yields one pair");
    build_expr(
        file.into_inner()
            .next()
            .expect("expr_file holds an expression"),
    )
}

/// Refuses sources whose brackets (`(`, `[`, `{`, also inside chevrons'
/// `#{`) nest deeper than [`MAX_NESTING`]. Double-quoted strings and
/// comments are skipped.
fn check_nesting(src: &str) -> Result<()> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::error(
                        Span::new(i, i + 1),
                        format!(
                            "nesting deeper than {MAX_NESTING} levels: split this expression up"
                        ),
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The span of a pair without trailing whitespace and comments. pest
/// keeps the layout it skipped before an optional part that then did not
/// match (`x = 1 // note` followed by another declaration), so when a
/// pair's text ends in layout its end is taken from its last child.
fn span(p: &P) -> Span {
    let s = p.as_span();
    Span::new(s.start(), content_end(p))
}

fn content_end(p: &P) -> usize {
    let s = p.as_span();
    let text = s.as_str();
    let ends_in_layout = text.ends_with(|c: char| c.is_whitespace()) || text.ends_with("*/");
    if !ends_in_layout {
        return s.end();
    }
    // After the last child there are only silent tokens (`)`, `}`) and
    // layout: keep the tokens, drop the layout.
    let base = p
        .clone()
        .into_inner()
        .last()
        .map_or(s.start(), |last| content_end(&last));
    base + tokens_len(&p.get_input()[base..s.end()])
}

/// Length of `gap` up to the end of its last non-layout character; `gap`
/// holds only punctuation and layout (whitespace, comments).
fn tokens_len(gap: &str) -> usize {
    let mut end = 0;
    let mut i = 0;
    while i < gap.len() {
        let rest = &gap[i..];
        if let Some(r) = rest.strip_prefix("//") {
            i += 2 + r.find('\n').unwrap_or(r.len());
        } else if let Some(r) = rest.strip_prefix("/*") {
            i += 2 + r.find("*/").map_or(r.len(), |j| j + 2);
        } else {
            let c = rest.chars().next().expect("i < len");
            i += c.len_utf8();
            if !c.is_whitespace() {
                end = i;
            }
        }
    }
    end
}

fn ident(p: P) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span(&p),
    }
}

fn err<T>(p: &P, message: impl Into<String>) -> Result<T> {
    Err(Diagnostic::error(span(p), message))
}

fn is_keyword(rk: R) -> bool {
    expected::keyword(rk).is_some()
}

/// The inner pairs without the keyword tokens, which carry no data.
fn parts<'i>(p: P<'i>) -> impl Iterator<Item = P<'i>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

fn build_ruleset(p: P) -> Result<Ruleset> {
    let sp = span(&p);
    let mut rid = None;
    let mut meta = Vec::new();
    let mut global = Vec::new();
    let mut rules = Vec::new();
    let mut ignored = Vec::new();
    for c in parts(p) {
        match c.as_rule() {
            R::rid => rid = Some(ident(c)),
            R::ruleset_version => {
                ignored.push(Ignored {
                    what: "version before meta (use `version` inside meta)".into(),
                    span: span(&c),
                });
                let value = build_expr_any(parts(c).next().expect("version has a string"))?;
                meta.push(MetaProp {
                    span: value.span,
                    kind: MetaKind::Version { value },
                });
            }
            R::meta_block => {
                for m in parts(c) {
                    if let Some(prop) = build_meta(m, &mut ignored)? {
                        meta.push(prop);
                    }
                }
            }
            R::dispatch_block => ignored.push(Ignored {
                what: "dispatch".into(),
                span: span(&c),
            }),
            R::global_block => {
                for g in parts(c) {
                    match g.as_rule() {
                        R::decl => global.push(build_decl(g)?),
                        R::classic_dataset => {
                            // A dataset binds its name to null (docs/spec/krl-language.md 10.4).
                            let sp = span(&g);
                            ignored.push(Ignored {
                                what: "dataset".into(),
                                span: sp,
                            });
                            let name = ident(parts(g).next().expect("dataset has a name"));
                            global.push(Decl {
                                name,
                                value: Expr {
                                    kind: ExprKind::Null,
                                    span: sp,
                                },
                                span: sp,
                            });
                        }
                        R::classic_emit => ignored.push(Ignored {
                            what: "emit/css".into(),
                            span: span(&g),
                        }),
                        r => unreachable!("global item {r:?}"),
                    }
                }
            }
            R::rule => rules.push(build_rule(c)?),
            r => unreachable!("ruleset part {r:?}"),
        }
    }
    Ok(Ruleset {
        rid: rid.expect("the grammar requires a rid"),
        meta,
        global,
        rules,
        ignored,
        span: sp,
    })
}

fn words(p: P) -> Vec<Ident> {
    parts(p).map(ident).collect()
}

fn build_meta(p: P, ignored: &mut Vec<Ignored>) -> Result<Option<MetaProp>> {
    let sp = span(&p);
    let rk = p.as_rule();
    let mut it = parts(p.clone());
    let kind = match rk {
        R::meta_name => MetaKind::Name {
            value: build_expr(it.next().expect("name value"))?,
        },
        R::meta_description => MetaKind::Description {
            value: build_expr(it.next().expect("description value"))?,
        },
        R::meta_author => MetaKind::Author {
            value: build_expr(it.next().expect("author value"))?,
        },
        R::meta_version => MetaKind::Version {
            value: build_expr(it.next().expect("version value"))?,
        },
        R::meta_logging => {
            let on = p.into_inner().any(|c| c.as_rule() == R::k_on);
            ignored.push(Ignored {
                what: "logging".into(),
                span: sp,
            });
            MetaKind::Logging { on }
        }
        R::meta_shares => MetaKind::Shares {
            names: words(it.next().expect("share list")),
        },
        R::meta_provides => MetaKind::Provides {
            names: words(it.next().expect("provide list")),
        },
        R::meta_provides_keys => MetaKind::ProvidesKeys {
            keys: words(it.next().expect("key list")),
            to: words(it.next().expect("rid list")),
        },
        R::meta_configure => MetaKind::Configure {
            decls: build_decls(it.next().expect("configure list"))?,
        },
        R::meta_use => {
            let rid = ident(it.next().expect("use rid"));
            let mut version = None;
            let mut alias = None;
            let mut with = Vec::new();
            for c in it {
                match c.as_rule() {
                    R::use_version => {
                        version = Some(build_expr(parts(c).next().expect("version"))?)
                    }
                    R::use_alias => alias = Some(ident(parts(c).next().expect("alias"))),
                    R::use_with => with = build_decls(parts(c).next().expect("with"))?,
                    r => unreachable!("use part {r:?}"),
                }
            }
            MetaKind::Use {
                rid,
                version,
                alias,
                with,
            }
        }
        R::meta_key => MetaKind::Key {
            name: ident(it.next().expect("key name")),
            value: build_expr(it.next().expect("key value"))?,
        },
        R::meta_errors_to => MetaKind::ErrorsTo {
            rid: ident(it.next().expect("errors to rid")),
        },
        R::meta_use_ignored | R::meta_ignored => {
            ignored.push(Ignored {
                what: p
                    .as_str()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
                span: sp,
            });
            return Ok(None);
        }
        r => unreachable!("meta property {r:?}"),
    };
    Ok(Some(MetaProp { kind, span: sp }))
}

fn build_decls(p: P) -> Result<Vec<Decl>> {
    parts(p).map(build_decl).collect()
}

fn build_decl(p: P) -> Result<Decl> {
    let sp = span(&p);
    let mut it = p.into_inner();
    let name = ident(it.next().expect("decl name"));
    if crate::syntax::words::is_reserved(&name.name) {
        let kind = if crate::syntax::words::RESERVED.contains(&name.name.as_str()) {
            "a reserved word"
        } else {
            "an operator word"
        };
        return err_at(
            name.span,
            format!(
                "`{0}` is {kind} and cannot name a variable (it would never be read back as `{0}`)",
                name.name
            ),
        );
    }
    let value = build_expr(it.next().expect("decl value"))?;
    Ok(Decl {
        name,
        value,
        span: sp,
    })
}

fn build_rule(p: P) -> Result<Rule> {
    let sp = span(&p);
    let mut it = parts(p);
    let name = ident(it.next().expect("rule name"));
    let mut rk = Rule {
        name,
        active: true,
        select: None,
        foreach: Vec::new(),
        pre: Vec::new(),
        actions: None,
        postlude: None,
        span: sp,
    };
    for c in it {
        match c.as_rule() {
            R::rule_state => rk.active = !c.into_inner().any(|k| k.as_rule() == R::k_inactive),
            R::select => rk.select = Some(build_select(c)?),
            R::foreach => {
                let fsp = span(&c);
                let mut f = parts(c);
                let expr = build_expr(f.next().expect("foreach expr"))?;
                let setting = words(f.next().expect("foreach setting"));
                rk.foreach.push(Foreach {
                    expr,
                    setting,
                    span: fsp,
                });
            }
            R::prelude => {
                for d in parts(c) {
                    rk.pre.push(build_decl(d)?);
                }
            }
            R::action_block => rk.actions = Some(build_action_block(c)?),
            R::postlude_fired | R::postlude_notfired | R::postlude_always => {
                rk.postlude = Some(build_postlude(c)?)
            }
            r => unreachable!("rule part {r:?}"),
        }
    }
    Ok(rk)
}

fn build_select(p: P) -> Result<Select> {
    let c = parts(p).next().expect("select body");
    let mut it = parts(c.clone());
    Ok(match c.as_rule() {
        R::select_when => {
            let expr = build_event_expr(it.next().expect("event expression"))?;
            let within = match it.next() {
                Some(w) => Some(build_within(w)?),
                None => None,
            };
            Select::When { expr, within }
        }
        R::select_where => Select::Where {
            expr: build_expr(it.next().expect("where expr"))?,
        },
        R::select_using => Select::Using {
            pattern: build_expr(it.next().expect("using pattern"))?,
            setting: it.next().map(words).unwrap_or_default(),
        },
        r => unreachable!("select {r:?}"),
    })
}

fn build_within(p: P) -> Result<Within> {
    let sp = span(&p);
    let mut it = parts(p);
    let amount = build_expr(it.next().expect("within amount"))?;
    let unit = it.next().expect("within unit").as_str().to_string();
    let base = unit.trim_end_matches('s');
    let unit_ms = match base {
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        "month" => 30 * 86_400_000,
        "year" => 365 * 86_400_000,
        _ => unreachable!("time_unit only matches the units above"),
    };
    Ok(Within {
        amount,
        unit_ms,
        unit,
        span: sp,
    })
}

fn event_op(p: &P) -> EventOp {
    let k = p
        .clone()
        .into_inner()
        .next()
        .expect("ev_op wraps one keyword");
    match k.as_rule() {
        R::k_or => EventOp::Or,
        R::k_and => EventOp::And,
        R::k_before => EventOp::Before,
        R::k_then => EventOp::Then,
        R::k_after => EventOp::After,
        r => unreachable!("event operator {r:?}"),
    }
}

fn event_power(op: EventOp) -> u8 {
    match op {
        EventOp::Or => 20,
        EventOp::And => 30,
        EventOp::Before | EventOp::Then | EventOp::After => 40,
    }
}

fn build_event_expr(p: P) -> Result<EventExpr> {
    let mut operands = Vec::new();
    let mut ops = Vec::new();
    for c in p.into_inner() {
        if operands.len() >= MAX_CHAIN {
            return chain_too_long(span(&c));
        }
        match c.as_rule() {
            R::ev_unary => operands.push(build_ev_unary(c)?),
            R::ev_op => ops.push(event_op(&c)),
            r => unreachable!("event_expr part {r:?}"),
        }
    }
    Ok(climb(operands, ops, event_power, |op, l, r| {
        let span = Span {
            start: l.span.start,
            end: r.span.end,
        };
        EventExpr {
            kind: EventKind::Op {
                op,
                args: vec![l, r],
            },
            span,
        }
    }))
}

/// Precedence climbing over a flat `operand (op operand)*` list; every
/// operator is left associative.
fn climb<T, O: Copy>(
    operands: Vec<T>,
    ops: Vec<O>,
    power: impl Fn(O) -> u8,
    join: impl Fn(O, T, T) -> T,
) -> T {
    let mut values: Vec<T> = Vec::with_capacity(operands.len());
    let mut pending: Vec<O> = Vec::with_capacity(ops.len());
    let mut operands = operands.into_iter();
    values.push(operands.next().expect("at least one operand"));
    let reduce = |values: &mut Vec<T>, op: O| {
        let r = values.pop().expect("right operand");
        let l = values.pop().expect("left operand");
        values.push(join(op, l, r));
    };
    for (op, operand) in ops.into_iter().zip(operands) {
        while let Some(&top) = pending.last() {
            if power(top) >= power(op) {
                pending.pop();
                reduce(&mut values, top);
            } else {
                break;
            }
        }
        pending.push(op);
        values.push(operand);
    }
    while let Some(op) = pending.pop() {
        reduce(&mut values, op);
    }
    values.pop().expect("one value remains")
}

fn int_of(p: &P) -> Result<u32> {
    p.as_str()
        .parse()
        .or_else(|_| err(p, format!("{} is too large", p.as_str())))
}

fn build_ev_unary(p: P) -> Result<EventExpr> {
    let mut it = p.into_inner();
    let mut e = build_ev_primary(it.next().expect("event primary"))?;
    for b in it {
        let sp = span(&b);
        let negated = b.clone().into_inner().any(|k| k.as_rule() == R::k_not);
        let mut args = parts(b);
        let first = build_event_expr(args.next().expect("between first"))?;
        let last = build_event_expr(args.next().expect("between last"))?;
        e = EventExpr {
            span: Span {
                start: e.span.start,
                end: sp.end,
            },
            kind: EventKind::Between {
                negated,
                middle: Box::new(e),
                first: Box::new(first),
                last: Box::new(last),
            },
        };
    }
    Ok(e)
}

fn build_ev_primary(p: P) -> Result<EventExpr> {
    let sp = span(&p);
    let kind = match p.as_rule() {
        R::event_expr => return build_event_expr(p),
        R::ev_group => {
            let mut it = p.into_inner();
            let op = event_op(&it.next().expect("group operator"));
            let args = it.map(build_event_expr).collect::<Result<Vec<_>>>()?;
            EventKind::Op { op, args }
        }
        R::ev_any => {
            let mut it = parts(p);
            let n = int_of(&it.next().expect("any count"))?;
            let args = it.map(build_event_expr).collect::<Result<Vec<_>>>()?;
            EventKind::Any { n, args }
        }
        R::ev_aggregate => {
            let mut it = p.into_inner();
            let kind = match it.next().expect("count or repeat").as_rule() {
                R::k_count => AggregateKind::Count,
                _ => AggregateKind::Repeat,
            };
            let n = int_of(&it.next().expect("aggregate count"))?;
            let inner = build_event_expr(it.next().expect("aggregate inner"))?;
            let aggregator = match it.next() {
                Some(a) => {
                    let asp = span(&a);
                    let mut ai = a.into_inner();
                    let op = ai.next().expect("aggregator op").as_str().to_string();
                    let names = words(ai.next().expect("aggregator names"));
                    Some(Aggregator {
                        op,
                        names,
                        span: asp,
                    })
                }
                None => None,
            };
            EventKind::Aggregate {
                kind,
                n,
                inner: Box::new(inner),
                aggregator,
            }
        }
        R::ev_web => {
            let mut what = Vec::new();
            let mut setting = Vec::new();
            for c in p.into_inner() {
                match c.as_rule() {
                    R::setting => setting = words(c),
                    R::string | R::regex => {}
                    _ => what.push(c.as_str().to_string()),
                }
            }
            EventKind::Web {
                what: what.join(" "),
                setting,
            }
        }
        R::ev_simple => EventKind::Simple(build_simple_event(p)?),
        r => unreachable!("event primary {r:?}"),
    };
    Ok(EventExpr { kind, span: sp })
}

fn build_simple_event(p: P) -> Result<SimpleEvent> {
    let mut it = p.into_inner();
    let domain = ident(it.next().expect("event domain"));
    let name = ident(it.next().expect("event type"));
    let mut ev = SimpleEvent {
        domain,
        name,
        matchers: Vec::new(),
        setting: Vec::new(),
        condition: None,
    };
    for c in it {
        match c.as_rule() {
            R::attr_match => {
                let sp = span(&c);
                let mut m = c.into_inner();
                let attr = ident(m.next().expect("attribute name"));
                let pat = m.next().expect("attribute pattern");
                let (pattern, flags) = match pat.as_rule() {
                    R::regex | R::regex_slash => regex_parts(pat),
                    // classic: a string is a regex source
                    _ => match build_string(pat)?.kind {
                        ExprKind::Str { value } => (value, String::new()),
                        _ => return err_at(sp, "an attribute pattern cannot interpolate `#{...}`"),
                    },
                };
                ev.matchers.push(AttrMatch {
                    attr,
                    pattern,
                    flags,
                    span: sp,
                });
            }
            R::setting => ev.setting = words(c),
            R::ev_where => ev.condition = Some(build_expr(parts(c).next().expect("where expr"))?),
            r => unreachable!("simple event part {r:?}"),
        }
    }
    Ok(ev)
}

fn err_at<T>(at: Span, message: impl Into<String>) -> Result<T> {
    Err(Diagnostic::error(at, message))
}

fn build_action_block(p: P) -> Result<ActionBlock> {
    let sp = span(&p);
    let mut condition = None;
    let mut kind = BlockKind::Every;
    let mut actions = Vec::new();
    for c in p.into_inner() {
        match c.as_rule() {
            R::action_cond => condition = Some(build_expr(parts(c).next().expect("if condition"))?),
            R::every_block | R::bare_block | R::action_list => {
                actions = build_actions(c)?;
            }
            R::sample_block => {
                kind = BlockKind::Sample;
                actions = build_actions(c)?;
            }
            R::choose_block => {
                let mut it = parts(c);
                let e = it.next().expect("choose expression");
                kind = BlockKind::Choose {
                    expr: build_postfix_chain(e.into_inner())?,
                };
                actions = it.map(build_action).collect::<Result<Vec<_>>>()?;
            }
            r => unreachable!("action block part {r:?}"),
        }
    }
    Ok(ActionBlock {
        condition,
        kind,
        actions,
        span: sp,
    })
}

fn build_actions(p: P) -> Result<Vec<Action>> {
    parts(p).map(build_action).collect()
}

fn build_action(p: P) -> Result<Action> {
    let sp = span(&p);
    let mut a = Action {
        label: None,
        domain: None,
        name: Ident {
            name: String::new(),
            span: sp,
        },
        args: Vec::new(),
        modifiers: Vec::new(),
        setting: Vec::new(),
        span: sp,
    };
    for c in p.into_inner() {
        match c.as_rule() {
            R::action_label => a.label = Some(ident(c.into_inner().next().expect("label"))),
            R::action_callee => {
                let mut names: Vec<Ident> = c.into_inner().map(ident).collect();
                a.name = names.pop().expect("action name");
                a.domain = names.pop();
            }
            R::call_args => a.args = build_args(c)?,
            R::setting => a.setting.extend(words(c)),
            R::action_with => {
                for d in parts(c) {
                    a.modifiers.push(build_decl(d)?);
                }
            }
            r => unreachable!("action part {r:?}"),
        }
    }
    Ok(a)
}

fn build_args(p: P) -> Result<Vec<Arg>> {
    p.into_inner()
        .map(|c| {
            let sp = span(&c);
            match c.as_rule() {
                R::named_arg => {
                    let mut it = c.into_inner();
                    let name = ident(it.next().expect("argument name"));
                    let value = build_expr(it.next().expect("argument value"))?;
                    Ok(Arg {
                        name: Some(name),
                        value,
                        span: sp,
                    })
                }
                _ => Ok(Arg {
                    name: None,
                    value: build_expr(c)?,
                    span: sp,
                }),
            }
        })
        .collect()
}

fn build_postlude(p: P) -> Result<Postlude> {
    let sp = span(&p);
    let kind = match p.as_rule() {
        R::postlude_fired => PostludeKind::Fired,
        R::postlude_notfired => PostludeKind::NotFired,
        _ => PostludeKind::Always,
    };
    let mut body = Vec::new();
    let mut else_body = None;
    let mut finally_body = None;
    for c in parts(p) {
        match c.as_rule() {
            R::stmt_block => body = build_stmts(c)?,
            R::postlude_else => {
                else_body = Some(build_stmts(parts(c).next().expect("else block"))?)
            }
            R::postlude_finally => {
                finally_body = Some(build_stmts(parts(c).next().expect("finally block"))?)
            }
            r => unreachable!("postlude part {r:?}"),
        }
    }
    Ok(Postlude {
        kind,
        body,
        else_body,
        finally_body,
        span: sp,
    })
}

fn build_stmts(p: P) -> Result<Vec<Stmt>> {
    p.into_inner().map(build_stmt).collect()
}

fn build_stmt(p: P) -> Result<Stmt> {
    let sp = span(&p);
    let mut it = p.into_inner();
    let s = it.next().expect("statement");
    let guard = match it.next() {
        Some(g) if g.as_rule() == R::guard_on_final => Some(Guard::OnFinal),
        Some(g) => Some(Guard::If {
            expr: build_expr(parts(g).next().expect("guard expr"))?,
        }),
        None => None,
    };
    let kind = match s.as_rule() {
        R::decl => StmtKind::Decl(build_decl(s)?),
        R::persistent_assign => {
            let mut c = s.into_inner();
            let target = build_persistent(c.next().expect("target"))?;
            StmtKind::Assign {
                target,
                value: build_expr(c.next().expect("value"))?,
            }
        }
        R::persistent_increment => {
            let mut c = parts(s);
            let target = build_persistent(c.next().expect("target"))?;
            let subtract = c.next().expect("operator").as_str() == "-=";
            let by = build_expr(c.next().expect("step"))?;
            let from = build_expr(c.next().expect("from"))?;
            StmtKind::Increment {
                target,
                subtract,
                by,
                from,
            }
        }
        R::other_assign => {
            let name = s.into_inner().next().expect("name");
            return err(
                &name,
                format!(
                    "cannot assign to `{}` with `:=`: only entity (`ent:`), application (`app:`) and call session (`session:`) variables can be assigned; declare a local with `=`",
                    name.as_str()
                ),
            );
        }
        R::clear_stmt => StmtKind::Clear {
            target: build_persistent(parts(s).next().expect("target"))?,
        },
        R::classic_set => {
            let ssp = span(&s);
            let mut c = parts(s);
            let target = build_persistent(c.next().expect("target"))?;
            let value = match c.next() {
                Some(v) => build_expr(v)?,
                None => Expr {
                    kind: ExprKind::Bool { value: true },
                    span: ssp,
                },
            };
            StmtKind::Assign { target, value }
        }
        R::raise_stmt => {
            let mut event = None;
            let mut for_rid = None;
            let mut attributes = None;
            for c in parts(s) {
                match c.as_rule() {
                    R::raise_static | R::raise_dynamic => event = Some(build_event_ref(c)?),
                    R::raise_for => {
                        for_rid = Some(build_expr(parts(c).next().expect("for rid"))?)
                    }
                    R::raise_attrs => attributes = Some(build_raise_attrs(c)?),
                    r => unreachable!("raise part {r:?}"),
                }
            }
            let mut event = event.expect("raise names an event");
            event.attributes = attributes;
            StmtKind::Raise { event, for_rid }
        }
        R::schedule_stmt => {
            let mut event = None;
            let mut when = None;
            let mut setting = None;
            let mut attributes = None;
            for c in parts(s) {
                match c.as_rule() {
                    R::raise_static | R::raise_dynamic => event = Some(build_event_ref(c)?),
                    R::schedule_at => {
                        when = Some(ScheduleWhen::At {
                            expr: build_expr(parts(c).next().expect("at"))?,
                        })
                    }
                    R::schedule_repeat => {
                        when = Some(ScheduleWhen::Repeat {
                            expr: build_expr(parts(c).next().expect("repeat"))?,
                        })
                    }
                    R::raise_attrs => attributes = Some(build_raise_attrs(c)?),
                    R::setting => {
                        let names = words(c.clone());
                        if names.len() != 1 {
                            return err(&c, "`schedule ... setting(...)` binds exactly one name");
                        }
                        setting = names.into_iter().next();
                    }
                    r => unreachable!("schedule part {r:?}"),
                }
            }
            let mut event = event.expect("schedule names an event");
            event.attributes = attributes;
            StmtKind::Schedule {
                event,
                when: when.expect("schedule has at or repeat"),
                setting,
            }
        }
        R::log_stmt | R::error_stmt => {
            let is_log = s.as_rule() == R::log_stmt;
            let mut level = if is_log { Level::Info } else { Level::Warn };
            let mut expr = None;
            for c in parts(s) {
                match c.as_rule() {
                    R::log_level => {
                        level = match c.as_str() {
                            "error" => Level::Error,
                            "warn" => Level::Warn,
                            "info" => Level::Info,
                            _ => Level::Debug,
                        }
                    }
                    _ => expr = Some(build_expr(c)?),
                }
            }
            let expr = expr.expect("log has a value");
            if is_log {
                StmtKind::Log { level, expr }
            } else {
                StmtKind::Error { level, expr }
            }
        }
        R::last_stmt => StmtKind::Last,
        R::classic_trail => {
            return err(
                &s,
                "classic trails (`mark`, `forget`) are not supported: store a list in an entity variable instead",
            )
        }
        r => unreachable!("statement {r:?}"),
    };
    Ok(Stmt {
        kind,
        guard,
        span: sp,
    })
}

fn build_event_ref(p: P) -> Result<EventRef> {
    let mut it = parts(p.clone());
    let domain = match p.as_rule() {
        R::raise_static => Some(ident(it.next().expect("domain"))),
        _ => None,
    };
    Ok(EventRef {
        domain,
        event_type: build_expr(it.next().expect("event type"))?,
        attributes: None,
    })
}

/// `attributes A`, or classic `with a = e and b = f` as the map `{"a": e, "b": f}`.
fn build_raise_attrs(p: P) -> Result<Expr> {
    let sp = span(&p);
    let mut items = parts(p).peekable();
    let first = items.peek().expect("attributes value");
    if first.as_rule() != R::decl {
        return build_expr(items.next().expect("attributes value"));
    }
    let entries = items
        .map(|d| build_decl(d).map(|d| (d.name.name, d.value)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Expr {
        kind: ExprKind::Map { entries },
        span: sp,
    })
}

fn build_persistent(p: P) -> Result<Persistent> {
    let sp = span(&p);
    let mut it = p.into_inner();
    let domain = it.next().expect("domain");
    let scope = match domain.as_str() {
        "ent" => PersistentScope::Ent,
        "app" => PersistentScope::App,
        "session" => PersistentScope::Session,
        other => {
            return err(
                &domain,
                format!(
                    "cannot assign to or clear `{other}:...`: only entity (`ent:`), application (`app:`) and call session (`session:`) variables are persistent"
                ),
            )
        }
    };
    let name = ident(it.next().expect("name"));
    let path = match it.next() {
        Some(path) => Some(Box::new(build_expr(
            path.into_inner().next().expect("path expr"),
        )?)),
        None => None,
    };
    Ok(Persistent {
        scope,
        name,
        path,
        span: sp,
    })
}

// ---------------------------------------------------------------- expressions

/// Builds any expression-like pair (an `expr`, or a bare literal in places
/// where the grammar takes one directly).
fn build_expr_any(p: P) -> Result<Expr> {
    match p.as_rule() {
        R::expr => build_expr(p),
        _ => build_primary(p),
    }
}

fn build_expr(p: P) -> Result<Expr> {
    debug_assert_eq!(p.as_rule(), R::expr);
    // children: test (then next)*, where each `next` is the test of the
    // following conditional, or the final alternate; fold from the right.
    let mut parts: Vec<Expr> = Vec::new();
    for c in p.into_inner() {
        if parts.len() > 2 * MAX_CHAIN {
            return chain_too_long(span(&c));
        }
        parts.push(build_binary(c)?);
    }
    let mut rest = parts.into_iter().rev();
    let mut e = rest.next().expect("an expression has a test");
    while let (Some(then), Some(test)) = (rest.next(), rest.next()) {
        e = Expr {
            span: Span {
                start: test.span.start,
                end: e.span.end,
            },
            kind: ExprKind::Cond {
                test: Box::new(test),
                then: Box::new(then),
                otherwise: Box::new(e),
            },
        };
    }
    Ok(e)
}

fn bin_op(rk: R) -> BinOp {
    match rk {
        R::op_or => BinOp::Or,
        R::op_and => BinOp::And,
        R::op_cmp3 => BinOp::Cmp3,
        R::op_le => BinOp::Le,
        R::op_ge => BinOp::Ge,
        R::op_in => BinOp::In,
        R::op_lt => BinOp::Lt,
        R::op_gt => BinOp::Gt,
        R::op_eq => BinOp::Eq,
        R::op_ne => BinOp::Ne,
        R::op_like => BinOp::Like,
        R::op_cmp => BinOp::Cmp,
        R::op_seq => BinOp::StrEq,
        R::op_sneq => BinOp::StrNe,
        R::op_add => BinOp::Add,
        R::op_sub => BinOp::Sub,
        R::op_mul => BinOp::Mul,
        R::op_div => BinOp::Div,
        R::op_mod => BinOp::Mod,
        r => unreachable!("infix operator {r:?}"),
    }
}

/// `binary` holds a flat sequence: for each operand its prefix operators,
/// its primary and its postfix operators, then an infix operator before the
/// next operand (`unary` and `postfix` are silent rules: fewer pairs to
/// build and walk, see the parse bench).
fn build_binary(p: P) -> Result<Expr> {
    let mut it = p.into_inner().peekable();
    let first = build_operand(&mut it)?;
    let Some(op) = it.next() else {
        return Ok(first);
    };
    let mut operands = vec![first];
    let mut ops = vec![bin_op(op.as_rule())];
    while it.peek().is_some() {
        if operands.len() >= MAX_CHAIN {
            return chain_too_long(span(it.peek().expect("peeked")));
        }
        operands.push(build_operand(&mut it)?);
        if let Some(op) = it.next() {
            ops.push(bin_op(op.as_rule()));
        }
    }
    Ok(climb(operands, ops, BinOp::power, |op, l, r| {
        let span = Span {
            start: l.span.start,
            end: r.span.end,
        };
        Expr {
            kind: ExprKind::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
            },
            span,
        }
    }))
}

fn is_postfix_op(r: R) -> bool {
    matches!(
        r,
        R::call_args | R::path_get | R::index_get | R::method_call | R::property_get
    )
}

/// One operand: prefix operators, a primary, postfix operators.
fn build_operand<'i>(it: &mut std::iter::Peekable<impl Iterator<Item = P<'i>>>) -> Result<Expr> {
    let mut prefixes = Vec::new();
    while let Some(c) = it.peek() {
        let op = match c.as_rule() {
            R::op_not => UnOp::Not,
            R::op_neg => UnOp::Neg,
            R::op_pos => UnOp::Pos,
            _ => break,
        };
        if prefixes.len() >= MAX_CHAIN {
            return chain_too_long(span(c));
        }
        prefixes.push((op, span(c)));
        it.next();
    }
    let mut e = build_primary(it.next().expect("an operand has a primary"))?;
    let mut n = 0;
    while it.peek().is_some_and(|c| is_postfix_op(c.as_rule())) {
        let op = it.next().expect("peeked");
        n += 1;
        if n > MAX_CHAIN {
            return chain_too_long(span(&op));
        }
        e = apply_postfix(e, op)?;
    }
    for (op, sp) in prefixes.into_iter().rev() {
        e = Expr {
            span: Span {
                start: sp.start,
                end: e.span.end,
            },
            kind: ExprKind::Unary {
                op,
                expr: Box::new(e),
            },
        };
    }
    Ok(e)
}

/// A primary followed by calls (the `choose` expression).
fn build_postfix_chain<'i>(mut it: impl Iterator<Item = P<'i>>) -> Result<Expr> {
    let mut e = build_primary(it.next().expect("primary"))?;
    for op in it {
        e = apply_postfix(e, op)?;
    }
    Ok(e)
}

fn apply_postfix(e: Expr, op: P) -> Result<Expr> {
    let sp = span(&op);
    let whole = Span {
        start: e.span.start,
        end: sp.end,
    };
    let kind = match op.as_rule() {
        R::call_args => ExprKind::Call {
            callee: Box::new(e),
            args: build_args(op)?,
        },
        R::path_get => ExprKind::Path {
            target: Box::new(e),
            path: Box::new(build_expr(op.into_inner().next().expect("path"))?),
        },
        R::index_get => ExprKind::Index {
            target: Box::new(e),
            index: Box::new(build_expr(op.into_inner().next().expect("index"))?),
        },
        R::method_call => {
            let mut m = op.into_inner();
            let mut names: Vec<Ident> = m
                .next()
                .expect("method name")
                .into_inner()
                .map(ident)
                .collect();
            let name = names.pop().expect("method name");
            let domain = names.pop().map(|d| d.name);
            ExprKind::Method {
                receiver: Box::new(e),
                domain,
                name,
                args: build_args(m.next().expect("method args"))?,
            }
        }
        R::property_get => ExprKind::Property {
            target: Box::new(e),
            name: ident(op.into_inner().next().expect("property name")),
        },
        r => unreachable!("postfix operator {r:?}"),
    };
    Ok(Expr { kind, span: whole })
}

fn build_primary(p: P) -> Result<Expr> {
    let sp = span(&p);
    let kind = match p.as_rule() {
        R::expr => return build_expr(p),
        R::number => ExprKind::Number {
            value: p
                .as_str()
                .parse()
                .expect("the number rule only matches valid decimals"),
        },
        R::string | R::sq_string | R::chevron => return build_string(p),
        R::regex | R::regex_slash | R::regex_hash => {
            let (pattern, flags) = regex_parts(p);
            ExprKind::Regex { pattern, flags }
        }
        R::js_literal | R::xdi_literal => ExprKind::Str {
            value: p
                .into_inner()
                .next()
                .map_or(String::new(), |b| b.as_str().to_string()),
        },
        R::boolean => ExprKind::Bool {
            value: p.as_str() == "true",
        },
        R::null => ExprKind::Null,
        R::array => ExprKind::Array {
            items: p.into_inner().map(build_expr).collect::<Result<_>>()?,
        },
        R::map => {
            let mut entries: Vec<(String, Expr)> = Vec::new();
            for e in p.into_inner() {
                let mut it = e.into_inner();
                let key = it.next().expect("map key");
                let key_span = span(&key);
                let key = match build_string(key)?.kind {
                    ExprKind::Str { value } => value,
                    _ => return err_at(key_span, "map keys must be plain strings (no `#{...}`); build computed keys with .put()"),
                };
                let value = build_expr(it.next().expect("map value"))?;
                // A duplicate key: the last one wins, in the first one's place.
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => entries.push((key, value)),
                }
            }
            ExprKind::Map { entries }
        }
        R::domain_ident => {
            let mut it = p.into_inner();
            ExprKind::Domain {
                domain: it.next().expect("domain").as_str().to_string(),
                name: it.next().expect("name").as_str().to_string(),
            }
        }
        R::ident => ExprKind::Ident {
            name: p.as_str().to_string(),
        },
        R::function_lit => {
            let mut it = parts(p);
            let params = build_params(it.next().expect("params"))?;
            let mut body = Vec::new();
            let mut result = None;
            for c in it {
                match c.as_rule() {
                    R::decl => body.push(build_decl(c)?),
                    _ => result = Some(build_expr(c)?),
                }
            }
            ExprKind::Function {
                params,
                body,
                result: Box::new(result.expect("a function has a result expression")),
            }
        }
        R::defaction_lit => {
            let mut it = parts(p);
            let mut params = build_params(it.next().expect("params"))?;
            let mut body = Vec::new();
            let mut actions = None;
            let mut result = None;
            for c in it {
                match c.as_rule() {
                    R::defaction_configure => {
                        // classic: `configure using a = 1` are extra parameters with defaults
                        for d in parts(c) {
                            let d = build_decl(d)?;
                            params.push(Param {
                                span: d.span,
                                name: d.name,
                                default: Some(d.value),
                            });
                        }
                    }
                    R::decl => body.push(build_decl(c)?),
                    R::action_block => actions = Some(build_action_block(c)?),
                    R::defaction_return => {
                        let rsp = span(&c);
                        let returns = c.clone().into_inner().any(|k| k.as_rule() == R::k_returns);
                        let values: Vec<P> = parts(c).collect();
                        if returns || values.len() != 1 {
                            return err_at(
                                rsp,
                                "a defaction returns one value: write `return expr`",
                            );
                        }
                        let v = values.into_iter().next().expect("one return value");
                        result = Some(Box::new(build_expr(v)?));
                    }
                    r => unreachable!("defaction part {r:?}"),
                }
            }
            ExprKind::Defaction {
                params,
                body,
                actions: Box::new(actions.expect("a defaction has an action block")),
                result,
            }
        }
        r => unreachable!("primary {r:?}"),
    };
    Ok(Expr { kind, span: sp })
}

fn build_params(p: P) -> Result<Vec<Param>> {
    p.into_inner()
        .map(|c| {
            let sp = span(&c);
            let mut it = c.into_inner();
            let name = ident(it.next().expect("param name"));
            let default = match it.next() {
                Some(d) => Some(build_expr(d)?),
                None => None,
            };
            Ok(Param {
                name,
                default,
                span: sp,
            })
        })
        .collect()
}

/// Strings, single-quoted strings and chevrons: literal text with escapes
/// decoded, and `#{}` beestings.
fn build_string(p: P) -> Result<Expr> {
    let sp = span(&p);
    let rk = p.as_rule();
    let mut parts_out: Vec<StrPart> = Vec::new();
    for c in p.into_inner() {
        match c.as_rule() {
            R::dq_text | R::sq_text | R::chevron_text => {
                let text = decode_text(c.as_str(), rk);
                match parts_out.last_mut() {
                    Some(StrPart::Text { text: prev }) => prev.push_str(&text),
                    _ => parts_out.push(StrPart::Text { text }),
                }
            }
            R::beesting => {
                let e = c.into_inner().next().expect("beesting expression");
                parts_out.push(StrPart::Expr {
                    expr: build_expr(e)?,
                });
            }
            r => unreachable!("string part {r:?}"),
        }
    }
    let kind = match parts_out.as_slice() {
        [] => ExprKind::Str {
            value: String::new(),
        },
        [StrPart::Text { .. }] => match parts_out.pop() {
            Some(StrPart::Text { text }) => ExprKind::Str { value: text },
            _ => unreachable!("matched a single text part"),
        },
        _ => ExprKind::Template { parts: parts_out },
    };
    Ok(Expr { kind, span: sp })
}

/// Decodes the escapes of string text (docs/spec/krl-language.md 1.6, 1.7, 10.3).
fn decode_text(raw: &str, rk: R) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('\\');
            break;
        };
        let escaped = match (rk, next) {
            (_, '\\') => true,
            (R::string, '"') => true,
            (R::sq_string, '\'') => true,
            (R::chevron, '>') => true,
            // `\#{` writes a literal `#{`
            (_, '#') => {
                let mut look = chars.clone();
                look.next();
                look.peek() == Some(&'{')
            }
            _ => false,
        };
        if !escaped {
            out.push('\\');
        }
        out.push(next);
        chars.next();
    }
    out
}

/// The pattern and flags of a regex literal, with `\#` (or `\/` in the
/// classic slash form) turned into the bare delimiter.
fn regex_parts(p: P) -> (String, String) {
    let rk = p.as_rule();
    let mut body = String::new();
    let mut flags = String::new();
    for c in p.into_inner() {
        match c.as_rule() {
            R::regex_body | R::slash_body => body = c.as_str().to_string(),
            R::regex_flags => flags = c.as_str().to_string(),
            r => unreachable!("regex part {r:?}"),
        }
    }
    let delim = if rk == R::regex_slash { "\\/" } else { "\\#" };
    let plain = &delim[1..];
    // Only the escaped delimiter is rewritten; every other pair stays.
    let mut out = String::with_capacity(body.len());
    let mut rest = body.as_str();
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let next = rest[i + 1..].chars().next().map_or(0, char::len_utf8);
        let pair = &rest[i..i + 1 + next];
        if pair == delim {
            out.push_str(plain);
        } else {
            out.push_str(pair);
        }
        rest = &rest[i + pair.len()..];
    }
    out.push_str(rest);
    (out, flags)
}
