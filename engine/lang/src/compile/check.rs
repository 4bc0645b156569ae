//! The lints: checks over the AST that need no scopes (docs/spec/krl-language.md
//! 3.3, 3.6, 4.10, 7.1) — meta, duplicate and reserved names, classic
//! constructs, argument order, event expressions. Names are resolved, and
//! their errors found, once, by the compile pass ([`super`]). A ruleset
//! with any error is refused at registration; warnings (classic
//! constructs, suspicious but legal code) are reported only.
//!
//! The full list of checks, with examples, is in docs/checks.md.

use crate::syntax::ast::*;
use crate::syntax::words::{is_reserved, RESERVED};
use crate::syntax::Diagnostic;
use std::collections::{HashMap, HashSet};

/// Every problem found in `rs`, errors and warnings, in source order.
pub fn check_ruleset(rs: &Ruleset) -> Vec<Diagnostic> {
    let mut c = Checker::default();
    // recursion follows the AST's nesting, bounded by the parser
    stacker::maybe_grow(
        crate::syntax::STACK_RED_ZONE,
        crate::syntax::STACK_SIZE,
        || c.ruleset(rs),
    );
    let mut diags = c.diags;
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    diags
}

/// What a name is bound to, as far as the checker can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// a plain value (or unknown: a parameter, a setting variable)
    Value,
    /// a function literal
    Function,
    /// a defaction (or a built-in action)
    Action,
}

fn kind_of(e: &Expr) -> Kind {
    match e.kind {
        ExprKind::Function { .. } => Kind::Function,
        ExprKind::Defaction { .. } => Kind::Action,
        _ => Kind::Value,
    }
}

#[derive(Default)]
struct Checker {
    diags: Vec<Diagnostic>,
    /// When collecting (`event_attrs`): the attribute names read with a
    /// literal name, in source order.
    attrs: Option<Vec<String>>,
}

/// The attribute names each rule reads with a literal name
/// (`event:attr("x")`, `event:attrs{"x"}`, `event:attrs.get("x")`), by
/// rule name, in source order: what the Pico Engine's compiler lists in
/// `__testing` (docs/spec/krl-language.md 9.8).
pub(super) fn event_attrs(rs: &Ruleset) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for r in &rs.rules {
        let mut c = Checker {
            attrs: Some(Vec::new()),
            ..Checker::default()
        };
        stacker::maybe_grow(
            crate::syntax::STACK_RED_ZONE,
            crate::syntax::STACK_SIZE,
            || c.rule(r),
        );
        out.insert(r.name.name.clone(), c.attrs.unwrap_or_default());
    }
    out
}

/// The string literal an argument is, if it is one.
fn literal(a: Option<&Arg>) -> Option<&str> {
    match a.map(|a| &a.value.kind) {
        Some(ExprKind::Str { value }) => Some(value),
        _ => None,
    }
}

fn is_event(e: &Expr, member: &str) -> bool {
    matches!(&e.kind, ExprKind::Domain { domain, name } if domain == "event" && name == member)
}

/// Setting and foreach variables → the rule that binds them (for hints
/// when one is used outside its rule).
pub(super) fn rule_vars(rs: &Ruleset) -> HashMap<String, String> {
    let mut rule_vars = HashMap::new();
    for r in &rs.rules {
        let mut names = Vec::new();
        if let Some(Select::When { expr, .. }) = &r.select {
            collect_settings(expr, &mut names);
        }
        for f in &r.foreach {
            names.extend(f.setting.iter().map(|i| i.name.clone()));
        }
        for n in names {
            rule_vars.entry(n).or_insert_with(|| r.name.name.clone());
        }
    }
    rule_vars
}

impl Checker {
    fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, msg));
    }

    fn bind(&mut self, name: &Ident) {
        if is_reserved(&name.name) {
            self.error(
                name.span,
                format!(
                    "`{}` is a reserved word and cannot be used as a name",
                    name.name
                ),
            );
        }
    }

    // ------------------------------------------------------------ ruleset

    fn ruleset(&mut self, rs: &Ruleset) {
        for ig in &rs.ignored {
            self.warn(
                ig.span,
                format!("classic construct `{}` is accepted and ignored", ig.what),
            );
        }
        let mut configure = Vec::new();
        for m in &rs.meta {
            if let MetaKind::Configure { decls } = &m.kind {
                configure.extend(decls.iter());
            }
        }
        for d in &configure {
            self.expr(&d.value);
            self.bind(&d.name);
        }
        for m in &rs.meta {
            if let MetaKind::Use { with, version, .. } = &m.kind {
                for d in with {
                    self.expr(&d.value);
                }
                if let Some(v) = version {
                    self.expr(v);
                }
            }
        }
        self.meta(rs);
        self.decls(&rs.global);
        self.meta_names(rs, &configure);
        self.rules(rs);
    }

    fn meta(&mut self, rs: &Ruleset) {
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for m in &rs.meta {
            let single = match &m.kind {
                MetaKind::Name { value } => Some(("name", Some(value))),
                MetaKind::Description { value } => Some(("description", Some(value))),
                MetaKind::Author { value } => Some(("author", Some(value))),
                MetaKind::Version { value } => Some(("version", Some(value))),
                MetaKind::Logging { .. } => Some(("logging", None)),
                MetaKind::Key { value, .. } => {
                    self.expr(value);
                    None
                }
                _ => None,
            };
            if let Some((what, value)) = single {
                if seen.insert(what, m.span).is_some() {
                    self.error(m.span, format!("`{what}` appears more than once in meta"));
                }
                if let Some(v) = value {
                    self.expr(v);
                }
            }
        }
    }

    /// shares/provides name declared globals; shared values are not actions.
    fn meta_names(&mut self, rs: &Ruleset, configure: &[&Decl]) {
        let globals: HashMap<&str, &Expr> = rs
            .global
            .iter()
            .map(|d| (d.name.name.as_str(), &d.value))
            .chain(configure.iter().map(|d| (d.name.name.as_str(), &d.value)))
            .collect();
        for m in &rs.meta {
            let (names, verb) = match &m.kind {
                MetaKind::Shares { names } => (names, "share"),
                MetaKind::Provides { names } => (names, "provide"),
                _ => continue,
            };
            for n in names {
                match globals.get(n.name.as_str()) {
                    None if verb == "share" && n.name == "__testing" => {}
                    None => self.error(
                        n.span,
                        format!(
                            "cannot {verb} `{}`: it is not declared in global",
                            n.name
                        ),
                    ),
                    Some(v) if verb == "share" && kind_of(v) == Kind::Action => self.error(
                        n.span,
                        format!(
                            "cannot share `{}`: it is an action, and actions must not be shared (provide it to modules instead)",
                            n.name
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    /// A block of declarations in the current frame (docs/spec/krl-language.md 4.10).
    fn decls(&mut self, decls: &[Decl]) {
        let mut first: HashMap<&str, Span> = HashMap::new();
        for d in decls {
            if let Some(prev) = first.insert(d.name.name.as_str(), d.name.span) {
                let _ = prev;
                self.error(
                    d.name.span,
                    format!("`{}` is declared twice in this block", d.name.name),
                );
            }
        }
        for d in decls {
            self.decl(d);
        }
    }

    fn decl(&mut self, d: &Decl) {
        self.bind(&d.name);
        self.expr(&d.value);
    }

    // ------------------------------------------------------------ rules

    fn rules(&mut self, rs: &Ruleset) {
        let mut names: HashMap<&str, Span> = HashMap::new();
        for r in &rs.rules {
            if names.insert(r.name.name.as_str(), r.name.span).is_some() {
                self.error(
                    r.name.span,
                    format!("duplicate rule name `{}`", r.name.name),
                );
            }
            if RESERVED.contains(&r.name.name.as_str()) {
                self.error(
                    r.name.span,
                    format!(
                        "`{}` is a reserved word and cannot name a rule",
                        r.name.name
                    ),
                );
            }
            if r.active {
                self.rule(r);
            }
        }
    }

    fn rule(&mut self, r: &Rule) {
        match &r.select {
            None => self.error(
                r.name.span,
                format!("rule `{}` is missing a `select`", r.name.name),
            ),
            Some(Select::When { expr, within }) => {
                let mut names = Vec::new();
                collect_setting_idents(expr, &mut names);
                for n in &names {
                    self.bind(n);
                }
                self.event_expr(expr);
                if let Some(w) = within {
                    self.expr(&w.amount);
                }
            }
            Some(Select::Where { expr }) => self.expr(expr),
            Some(Select::Using { pattern, setting }) => {
                self.expr(pattern);
                for n in setting {
                    self.bind(n);
                }
                self.warn(
                    pattern.span,
                    "classic `select using` (a pageview rule) never matches an event",
                );
            }
        }
        for f in &r.foreach {
            self.expr(&f.expr);
            for n in &f.setting {
                self.bind(n);
            }
        }
        self.decls(&r.pre);
        if let Some(block) = &r.actions {
            self.action_block(block);
        }
        if let Some(p) = &r.postlude {
            self.stmts(&p.body);
            if let Some(b) = &p.else_body {
                self.stmts(b);
            }
            if let Some(b) = &p.finally_body {
                self.stmts(b);
            }
        }
    }

    fn event_expr(&mut self, e: &EventExpr) {
        match &e.kind {
            EventKind::Simple(s) => {
                if let Some(c) = &s.condition {
                    self.expr(c);
                }
                let mut seen = HashSet::new();
                for n in &s.setting {
                    if !seen.insert(n.name.as_str()) {
                        self.error(n.span, format!("`{}` is set twice", n.name));
                    }
                }
            }
            EventKind::Op { args, .. } => {
                for a in args {
                    self.event_expr(a);
                }
            }
            EventKind::Between {
                middle,
                first,
                last,
                ..
            } => {
                self.event_expr(middle);
                self.event_expr(first);
                self.event_expr(last);
            }
            EventKind::Any { n, args } => {
                if *n < 1 || *n as usize > args.len() {
                    self.error(
                        e.span,
                        format!(
                            "`any {n}` needs between 1 and {} (the number of its arguments)",
                            args.len()
                        ),
                    );
                }
                for a in args {
                    self.event_expr(a);
                }
            }
            EventKind::Aggregate { kind, n, inner, .. } => {
                if *n < 1 {
                    let word = match kind {
                        AggregateKind::Count => "count",
                        AggregateKind::Repeat => "repeat",
                    };
                    self.error(e.span, format!("`{word} 0` never fires: use 1 or more"));
                }
                self.event_expr(inner);
            }
            EventKind::Web { .. } => self.warn(
                e.span,
                "classic web event (pageview, web click...) never matches an event",
            ),
        }
    }

    // ------------------------------------------------------------ actions

    fn action_block(&mut self, b: &ActionBlock) {
        if let Some(c) = &b.condition {
            self.expr(c);
        }
        let choose = match &b.kind {
            BlockKind::Choose { expr } => {
                self.expr(expr);
                true
            }
            _ => false,
        };
        for a in &b.actions {
            if choose && a.label.is_none() {
                self.error(
                    a.span,
                    "every action inside a `choose` block needs a label (`label => action`)",
                );
            }
            self.action(a);
        }
    }

    fn action(&mut self, a: &Action) {
        if let Some(first) = a.modifiers.first() {
            self.warn(
                first.span,
                "classic `with` modifiers: write them as named arguments, `action(arg, name = value)`",
            );
        }
        self.args(&a.args);
        for m in &a.modifiers {
            self.expr(&m.value);
        }
        if a.setting.len() > 1 {
            self.error(
                a.setting[1].span,
                "an action returns one value: `setting(...)` takes one name",
            );
        }
        for n in &a.setting {
            self.bind(n);
        }
    }

    fn args(&mut self, args: &[Arg]) {
        let mut named = false;
        for a in args {
            match &a.name {
                Some(_) => named = true,
                None if named => self.error(
                    a.span,
                    "a positional argument cannot follow a named one (`f(a = 1, 2)`)",
                ),
                None => {}
            }
            self.expr(&a.value);
        }
    }

    // ------------------------------------------------------------ postlude

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            if let Some(Guard::If { expr }) = &s.guard {
                self.expr(expr);
            }
            match &s.kind {
                StmtKind::Decl(d) => self.decl(d),
                StmtKind::Assign { target, value } => {
                    self.persistent(target);
                    self.expr(value);
                }
                StmtKind::Increment {
                    target, by, from, ..
                } => {
                    self.warn(
                        s.span,
                        "classic `+= ... from`: write `ent:x := ent:x.defaultsTo(from) + n`",
                    );
                    self.persistent(target);
                    self.expr(by);
                    self.expr(from);
                }
                StmtKind::Clear { target } => self.persistent(target),
                StmtKind::Raise { event, for_rid } => {
                    self.event_ref(event);
                    if let Some(r) = for_rid {
                        self.expr(r);
                    }
                }
                StmtKind::Schedule {
                    event,
                    when,
                    setting,
                } => {
                    self.event_ref(event);
                    match when {
                        ScheduleWhen::At { expr } | ScheduleWhen::Repeat { expr } => {
                            self.expr(expr)
                        }
                    }
                    if let Some(n) = setting {
                        self.bind(n);
                    }
                }
                StmtKind::Log { expr, .. } | StmtKind::Error { expr, .. } => self.expr(expr),
                StmtKind::Last => {}
            }
        }
    }

    fn persistent(&mut self, p: &Persistent) {
        if let Some(path) = &p.path {
            self.expr(path);
        }
    }

    fn event_ref(&mut self, e: &EventRef) {
        match &e.event_type.kind {
            // classic: `raise explicit event foo` names the type `foo`
            ExprKind::Ident { .. } => {}
            _ => self.expr(&e.event_type),
        }
        if let Some(a) = &e.attributes {
            self.expr(a);
        }
    }

    // ------------------------------------------------------------ expressions

    fn expr(&mut self, e: &Expr) {
        if let Some(attrs) = &mut self.attrs {
            let read = match &e.kind {
                ExprKind::Call { callee, args } if is_event(callee, "attr") => {
                    literal(args.first())
                }
                ExprKind::Path { target, path } if is_event(target, "attrs") => match &path.kind {
                    ExprKind::Str { value } => Some(value.as_str()),
                    _ => None,
                },
                ExprKind::Method {
                    receiver,
                    domain: None,
                    name,
                    args,
                } if is_event(receiver, "attrs") && name.name == "get" => literal(args.first()),
                _ => None,
            };
            if let Some(a) = read {
                if !attrs.iter().any(|x| x == a) {
                    attrs.push(a.to_string());
                }
            }
        }
        match &e.kind {
            ExprKind::Null
            | ExprKind::Bool { .. }
            | ExprKind::Number { .. }
            | ExprKind::Str { .. }
            | ExprKind::Regex { .. } => {}
            ExprKind::Template { parts } => {
                for p in parts {
                    if let StrPart::Expr { expr } = p {
                        self.expr(expr);
                    }
                }
            }
            ExprKind::Array { items } => {
                for i in items {
                    self.expr(i);
                }
            }
            ExprKind::Map { entries } => {
                for (_, v) in entries {
                    self.expr(v);
                }
            }
            ExprKind::Ident { .. } | ExprKind::Domain { .. } => {}
            ExprKind::Unary { expr, .. } => self.expr(expr),
            ExprKind::Binary { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::Cond {
                test,
                then,
                otherwise,
            } => {
                self.expr(test);
                self.expr(then);
                self.expr(otherwise);
            }
            ExprKind::Call { callee, args } => {
                self.call_target(callee, args.len());
                self.args(args);
            }
            ExprKind::Method { receiver, args, .. } => {
                self.expr(receiver);
                self.args(args);
            }
            ExprKind::Path { target, path } => {
                self.expr(target);
                self.expr(path);
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
            ExprKind::Property { target, name } => {
                self.warn(
                    name.span,
                    format!(
                        "deprecated property syntax `.{0}`: write `{{\"{0}\"}}`",
                        name.name
                    ),
                );
                self.expr(target)
            }
            ExprKind::Function {
                params,
                body,
                result,
            } => {
                self.params(params);
                self.decls(body);
                self.expr(result);
            }
            ExprKind::Defaction {
                params,
                body,
                actions,
                result,
            } => {
                self.params(params);
                self.decls(body);
                self.action_block(actions);
                if let Some(r) = result {
                    self.expr(r);
                }
            }
        }
    }

    /// What is called in `callee(args)` must be a function, not an action.
    fn call_target(&mut self, callee: &Expr, argc: usize) {
        match &callee.kind {
            ExprKind::Ident { .. } => {}
            ExprKind::Domain { domain, name } => {
                if domain == "event" && (name == "attr" || name == "param") {
                    self.warn(
                        callee.span,
                        format!("deprecated `event:{name}(...)`: write `event:attrs{{\"name\"}}` (exact case)"),
                    );
                }
                // classic `event:attrs()` (no argument) is the attribute map
                if domain == "event" && name == "attrs" && argc > 0 {
                    self.error(
                        callee.span,
                        "`event:attrs` is not a function: read one attribute with `event:attrs{\"name\"}`",
                    );
                }
            }
            _ => self.expr(callee),
        }
    }

    /// Parameters: each once, defaults after defaults.
    fn params(&mut self, params: &[Param]) {
        let mut seen = HashSet::new();
        let mut defaulted = false;
        for p in params {
            if !seen.insert(p.name.name.as_str()) {
                self.error(
                    p.name.span,
                    format!("duplicate parameter `{}`", p.name.name),
                );
            }
            match &p.default {
                Some(d) => {
                    defaulted = true;
                    self.expr(d);
                }
                None if defaulted => self.error(
                    p.name.span,
                    format!(
                        "parameter `{}` has no default but follows one that has",
                        p.name.name
                    ),
                ),
                None => {}
            }
            self.bind(&p.name);
        }
    }
}

/// Setting and aggregator names of an event expression.
fn collect_setting_idents<'a>(e: &'a EventExpr, out: &mut Vec<&'a Ident>) {
    match &e.kind {
        EventKind::Simple(s) => out.extend(s.setting.iter()),
        EventKind::Op { args, .. } | EventKind::Any { args, .. } => {
            for a in args {
                collect_setting_idents(a, out);
            }
        }
        EventKind::Between {
            middle,
            first,
            last,
            ..
        } => {
            collect_setting_idents(middle, out);
            collect_setting_idents(first, out);
            collect_setting_idents(last, out);
        }
        EventKind::Aggregate {
            inner, aggregator, ..
        } => {
            collect_setting_idents(inner, out);
            if let Some(a) = aggregator {
                out.extend(a.names.iter());
            }
        }
        EventKind::Web { setting, .. } => out.extend(setting.iter()),
    }
}

pub(super) fn collect_settings(e: &EventExpr, out: &mut Vec<String>) {
    let mut ids = Vec::new();
    collect_setting_idents(e, &mut ids);
    out.extend(ids.into_iter().map(|i| i.name.clone()));
}

#[cfg(test)]
mod tests {
    use crate::syntax::parse_ruleset;

    fn errors(src: &str) -> Vec<String> {
        let rs = parse_ruleset(src).expect("test source parses");
        crate::engine::check(&rs)
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| d.message)
            .collect()
    }

    macro_rules! fails {
        ($src:expr, $msg:expr) => {{
            let errs = errors($src);
            assert!(
                errs.iter().any(|m| m.contains($msg)),
                "expected an error containing {:?}, got {:?}",
                $msg,
                errs
            );
        }};
    }

    macro_rules! passes {
        ($src:expr) => {{
            let errs = errors($src);
            assert!(errs.is_empty(), "unexpected errors {:?}", errs);
        }};
    }

    #[test]
    fn one_pass_reports_every_error_of_a_ruleset_in_source_order() {
        // names (compile pass), a lint, a module's literal check and an
        // invalid regex, all in one run
        let src = r#"ruleset a {
  global { x = y z = w }
  rule r {
    select when a b
    pre { m = "a".match(re#(#) }
    twilio:say("hi", vioce = "alice")
  }
  rule r { select when a c noop() }
}"#;
        let got = errors(src);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], "undefined name `y`");
        assert_eq!(got[1], "undefined name `w`");
        assert!(got[2].contains("regex") || got[2].contains("("), "{got:?}");
        assert!(
            got[3].starts_with("`twilio:say` has no attribute `vioce`"),
            "{got:?}"
        );
        assert_eq!(got[4], "duplicate rule name `r`");
    }

    #[test]
    fn what_the_lints_and_the_pass_both_see_is_reported_once() {
        let got = errors("ruleset a { rule r { select when any 3 (a b, c d) noop() } }");
        assert_eq!(got.len(), 1, "{got:?}");
        let got = errors("ruleset a { rule r { select when count 0 (a b) noop() } }");
        assert_eq!(got.len(), 1, "{got:?}");
    }

    #[test]
    fn names_in_meta_and_select_using_are_checked() {
        fails!("ruleset a { meta { name foo } }", "undefined name `foo`");
        fails!(
            "ruleset a { meta { use module b version v } }",
            "undefined name `v`"
        );
        fails!(
            "ruleset a { rule r { select using nope setting(x) noop() } }",
            "undefined name `nope`"
        );
    }

    #[test]
    fn library_functions_are_no_actions_nor_actions_functions() {
        fails!(
            r#"ruleset a { rule r { select when a b lc("x") } }"#,
            "unknown action `lc`"
        );
        fails!(
            r#"ruleset a { global { f = function() { send_directive("x") } } }"#,
            "undefined name `send_directive`"
        );
        fails!(
            "ruleset a { global { x = notify } }",
            "undefined name `notify`"
        );
    }

    #[test]
    fn testing_is_predefined_and_a_global_may_build_on_it() {
        passes!(
            r#"ruleset a { meta { shares __testing } global { __testing = __testing.put(["queries"], []) } }"#
        );
        passes!(r#"ruleset a { global { t = __testing{"events"} } }"#);
    }

    #[test]
    fn duplicate_rule_names() {
        fails!(
            "ruleset a { rule r { select when a b } rule r { select when a c } }",
            "duplicate rule name `r`"
        );
    }

    #[test]
    fn shares_and_provides_must_be_globals() {
        fails!(
            "ruleset a { meta { shares nope } }",
            "cannot share `nope`: it is not declared in global"
        );
        fails!(
            "ruleset a { meta { provides nope } }",
            "cannot provide `nope`"
        );
        passes!("ruleset a { meta { shares x, __testing provides x } global { x = 1 } }");
        fails!(
            "ruleset a { meta { shares act } global { act = defaction() { noop() } } }",
            "actions must not be shared"
        );
    }

    #[test]
    fn undefined_names() {
        fails!("ruleset a { global { x = y } }", "undefined name `y`");
        fails!(
            "ruleset a { rule r { select when sensor reading where temp > 30 send_directive(\"x\") } }",
            "undefined name `temp` (event attributes are not variables: read this one as `event:attrs{\"temp\"}`, or bind it with `setting(...)`)"
        );
        // the engine's own mqtt message attributes may be named bare there
        passes!("ruleset a { rule r { select when mqtt message where payload{\"Type\"} == \"Outgoing\" && topic != \"x\" send_directive(\"x\") } }");
        fails!(
            "ruleset a { rule r { select when mqtt message where payload send_directive(payload) } }",
            "undefined name `payload`"
        );
        fails!(
            "ruleset a { global { x = \"a\".nope() } }",
            "unknown function `nope`"
        );
        passes!("ruleset a { global { x = [1].length() y = length(x) } }");
    }

    #[test]
    fn later_names_only_from_functions() {
        passes!(
            "ruleset a { global { even = function(n) { n == 0 => true | odd(n - 1) } odd = function(n) { n == 0 => false | even(n - 1) } } }"
        );
        fails!(
            "ruleset a { global { half = later / 2 later = 4 } }",
            "undefined name `later`"
        );
    }

    #[test]
    fn declaration_sees_outer_binding_of_its_name() {
        passes!("ruleset a { global { add = function(a, b) { a + b } } rule r { select when a b pre { add = add(1, 2) } } }");
    }

    #[test]
    fn duplicate_declarations_and_parameters() {
        fails!("ruleset a { global { x = 1 x = 2 } }", "declared twice");
        fails!(
            "ruleset a { global { f = function(a, a) { a } } }",
            "duplicate parameter `a`"
        );
        fails!(
            "ruleset a { global { f = function(a = 1, b) { a } } }",
            "has no default but follows"
        );
    }

    #[test]
    fn setting_variables_stay_in_their_rule() {
        fails!(
            "ruleset a { rule r1 { select when a b x re#(.*)# setting(v) } rule r2 { select when a c send_directive(v) } }",
            "setting or foreach variable of rule `r1`"
        );
        passes!("ruleset a { rule r1 { select when a b x re#(.*)# setting(v) where v != \"\" pre { w = v } send_directive(w) } }");
    }

    #[test]
    fn action_setting_is_visible_after_the_action_only() {
        fails!(
            "ruleset a { rule r { select when a b pre { y = d } send_directive(\"x\") setting(d) } }",
            "undefined name `d`"
        );
        passes!("ruleset a { rule r { select when a b send_directive(\"x\") setting(d) fired { ent:d := d } } }");
    }

    #[test]
    fn unknown_module_prefixes() {
        fails!(
            "ruleset a { global { x = nope:thing() } }",
            "unknown module `nope`"
        );
        fails!(
            "ruleset a { rule r { select when a b nope:act() } }",
            "unknown module `nope`"
        );
        passes!("ruleset a { meta { use module io.x.y alias lib } global { x = lib:f() } }");
        passes!("ruleset a { global { x = time:now() y = ent:v z = event:attrs{\"a\"} } }");
    }

    #[test]
    fn actions_are_not_functions() {
        fails!(
            "ruleset a { rule r { select when a b pre { d = send_directive(\"x\") } } }",
            "`send_directive` is an action"
        );
        fails!(
            "ruleset a { global { act = defaction() { noop() } v = act() } }",
            "`act` is an action"
        );
        fails!(
            "ruleset a { rule r { select when a b pre { x = twilio:say(\"hi\") } } }",
            "`twilio:say` is an action"
        );
        fails!(
            "ruleset a { global { x = event:attrs(\"a\") } }",
            "`event:attrs` is not a function"
        );
    }

    #[test]
    fn twilio_dial_nouns_check_their_attributes() {
        passes!(
            r#"ruleset a { rule r { select when twilio c every {
                twilio:dial_start(callerId = "+15550000")
                twilio:client("alice", url = "/whisper", statusCallbackEvent = "ringing answered")
                twilio:sip("sip:bob@example.com") with username = "bob" and password = "pw"
                twilio:dial_stop()
                twilio:queue("support", reservationSid = "WR1", postWorkActivitySid = "WA1", method = "GET")
            } } }"#
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:client("alice") with sendDigits = "1" } }"#,
            "`twilio:client` has no attribute `sendDigits` (it takes url, method, statusCallback, statusCallbackMethod, statusCallbackEvent)"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:sip("sip:b@x", statusCallbackEvent = "hangup") } }"#,
            "`twilio:sip` attribute `statusCallbackEvent` must be space-separated words among"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:queue("q", waitUrl = "/hold") } }"#,
            "`twilio:queue` has no attribute `waitUrl` (it takes url, method, reservationSid, postWorkActivitySid)"
        );
        // through the classic alias too
        fails!(
            r#"ruleset a { meta { use module a8x115 alias phone } rule r { select when twilio c phone:queue("q") with method = "PUT" } }"#,
            "`twilio:queue` attribute `method` must be GET or POST, not \"PUT\""
        );
    }

    #[test]
    fn unknown_twilio_actions_are_refused() {
        let list = "the twilio actions are say, play, pause, gather_start, gather_stop, record, sms, message, dial, dial_conference, dial_start, number, client, sip, queue, dial_stop, hangup, redirect, reject, enqueue, raw, raw_response, send_sms, place_call, call, redirect_call";
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:foo("x") } }"#,
            &format!("unknown action `twilio:foo`: {list}")
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:sya("x") } }"#,
            &format!("unknown action `twilio:sya` (did you mean `twilio:say`?): {list}")
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:gatherStart("menu") } }"#,
            "(did you mean `twilio:gather_start`?)"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:url_for("a.mp3") } }"#,
            "`twilio:url_for` is a function, not an action"
        );
        // through the classic alias, named as written
        fails!(
            r#"ruleset a { meta { use module a8x115 alias phone } rule r { select when twilio c phone:hangUp() } }"#,
            "unknown action `phone:hangUp` (did you mean `phone:hangup`?): the twilio actions are"
        );
        // every action of the table passes; a user's module aliased
        // `twilio` is not the built-in one
        for a in crate::modules::registry()
            .module("twilio")
            .unwrap()
            .action_names()
        {
            passes!(&format!(
                "ruleset a {{ rule r {{ select when twilio c twilio:{a}() }} }}"
            ));
        }
        passes!(
            r#"ruleset a { meta { use module io.x.tw alias twilio } rule r { select when twilio c twilio:foo("x") } }"#
        );
        passes!(r#"ruleset a { global { u = twilio:url_for("a.mp3") } }"#);
    }

    #[test]
    fn literal_raw_response_xml_must_be_well_formed() {
        passes!(
            r#"ruleset a { rule r { select when twilio c every {
                twilio:raw_response("<Say>a &amp; b</Say><Leave/>")
                twilio:raw(<< <Response><Say>whole</Say></Response> >>)
                twilio:raw_response("  <?xml version=\"1.0\"?><Response/>")
                twilio:raw("")
                twilio:raw_response("<Say>#{event:attrs{"x"}}")
            } } }"#
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:raw_response("<Say>unclosed") } }"#,
            "`twilio:raw_response` needs well-formed XML: 1 element(s) not closed"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:raw("<Say>a</Play>") } }"#,
            "`twilio:raw` needs well-formed XML: not well-formed XML at byte"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:raw("<Response/><Response/>") } }"#,
            "`twilio:raw` needs well-formed XML: more than one root element"
        );
        fails!(
            r#"ruleset a { rule r { select when twilio c twilio:raw("<Say>&nbsp;</Say>") } }"#,
            "unknown entity &nbsp;"
        );
        fails!(
            r#"ruleset a { meta { use module a8x115 alias phone } rule r { select when twilio c phone:raw(<< <Response><Say>x</Response> >>) } }"#,
            "`twilio:raw` needs well-formed XML"
        );
    }

    #[test]
    fn choose_needs_labels_and_setting_one_name() {
        fails!(
            "ruleset a { rule r { select when a b choose event:name { send_directive(\"x\") } } }",
            "needs a label"
        );
        fails!(
            "ruleset a { rule r { select when a b send_directive(\"x\") setting(a, b) } }",
            "takes one name"
        );
    }

    #[test]
    fn named_then_positional_arguments() {
        fails!(
            "ruleset a { global { f = function(a, b) { a } x = f(a = 1, 2) } }",
            "positional argument cannot follow"
        );
    }

    #[test]
    fn meta_properties_once() {
        fails!(
            "ruleset a { meta { name \"a\" name \"b\" } }",
            "`name` appears more than once"
        );
    }

    #[test]
    fn rule_needs_select_unless_inactive() {
        fails!(
            "ruleset a { rule r { send_directive(\"x\") } }",
            "missing a `select`"
        );
        passes!("ruleset a { rule r is inactive { send_directive(\"x\") } }");
    }

    #[test]
    fn reserved_words_cannot_be_declared() {
        // declarations are refused by the parser, parameters by the checker
        let d = parse_ruleset("ruleset a { global { count = 3 } }").expect_err("a syntax error");
        assert!(
            d.message.contains("`count` is an operator word"),
            "{}",
            d.message
        );
        fails!(
            "ruleset a { global { f = function(any) { 1 } } }",
            "`any` is a reserved word"
        );
    }

    #[test]
    fn any_n_is_bounded() {
        fails!(
            "ruleset a { rule r { select when any 3 (a b, a c) } }",
            "`any 3` needs between 1 and 2"
        );
        passes!("ruleset a { rule r { select when any 2 (a b, a c) } }");
    }

    #[test]
    fn classic_raise_type_may_be_a_bare_word() {
        passes!("ruleset a { rule r { select when a b fired { raise explicit event foo } } }");
    }
}
