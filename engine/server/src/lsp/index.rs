//! What one ruleset defines and uses, by span: the definitions (globals,
//! functions, defactions, `pre` and postlude variables, parameters,
//! `setting` names, rules, `use module` aliases), every use of a name and
//! what it resolves to (a definition, a library function, a module
//! member, a module's function through its alias, an entity variable, an
//! event), the scopes (for completion) and the events each rule selects.
//! Built from the AST by one walk with a stack of scopes, as the compile
//! pass resolves names.

use krl_lang::syntax::ast::*;
use std::collections::HashMap;

/// What a definition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    /// the ruleset itself
    Ruleset,
    /// a global declaration (not a function or defaction)
    Global,
    /// a global or local function
    Function,
    /// a defaction
    Defaction,
    /// a `pre` or postlude variable, or a function body's
    Local,
    /// a function or defaction parameter
    Param,
    /// a `setting(...)` name, `foreach` or aggregator variable
    Setting,
    /// a rule
    Rule,
    /// a `use module` alias
    Alias,
    /// a `configure using` parameter
    Configure,
}

impl DefKind {
    /// A word for hovers.
    pub fn word(self) -> &'static str {
        match self {
            DefKind::Ruleset => "ruleset",
            DefKind::Global => "global",
            DefKind::Function => "function",
            DefKind::Defaction => "defaction",
            DefKind::Local => "variable",
            DefKind::Param => "parameter",
            DefKind::Setting => "setting variable",
            DefKind::Rule => "rule",
            DefKind::Alias => "module alias",
            DefKind::Configure => "configuration parameter",
        }
    }
}

/// A definition.
#[derive(Clone, Debug)]
pub struct Def {
    /// the name
    pub name: String,
    /// what it is
    pub kind: DefKind,
    /// the name as written
    pub span: Span,
    /// the whole declaration
    pub decl: Span,
}

/// What a use of a name resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// a definition of this file (index into `defs`)
    Def(usize),
    /// a library function or action, by its bare name
    Library(String),
    /// a native module's member (`time:now`, `twilio:say`)
    Member(String, String),
    /// a function of a module ruleset through an alias: (rid, name)
    Module(String, String),
    /// `ent:x`, `app:x`
    Entity(String),
    /// an event, as raised or scheduled: (domain, type)
    Event(String, String),
    /// a name nothing defines
    Unknown(String),
}

/// A use of a name.
#[derive(Clone, Debug)]
pub struct Ref {
    /// where
    pub span: Span,
    /// what it names
    pub target: Target,
    /// an entity variable assigned, incremented or cleared
    pub write: bool,
    /// the rule it is in (index into `defs`)
    pub rule: Option<usize>,
}

/// A scope: where its names are visible and which they are.
#[derive(Clone, Debug)]
pub struct Scope {
    /// where its names are visible
    pub span: Span,
    /// its definitions (indexes into `Index::defs`)
    pub defs: Vec<usize>,
}

/// A simple event a rule selects on.
#[derive(Clone, Debug)]
pub struct Select {
    /// the event domain
    pub domain: String,
    /// the event type
    pub kind: String,
    /// the rule (index into `defs`)
    pub rule: usize,
    /// `domain type` as written
    pub span: Span,
}

/// One ruleset's names.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// the ruleset id
    pub rid: String,
    /// every definition
    pub defs: Vec<Def>,
    /// every use of a name
    pub refs: Vec<Ref>,
    /// every scope, the ruleset first
    pub scopes: Vec<Scope>,
    /// the simple events rules select on
    pub selects: Vec<Select>,
    /// alias → module rid
    pub aliases: HashMap<String, String>,
    /// `provides` names
    pub provides: Vec<String>,
}

struct Walker {
    ix: Index,
    /// open scopes (index into `scopes`, then (name, def) in order),
    /// innermost last
    stack: Vec<(usize, Vec<(String, usize)>)>,
    rule: Option<usize>,
}

/// Indexes one parsed ruleset.
pub fn index(rs: &Ruleset) -> Index {
    let mut w = Walker {
        ix: Index {
            rid: rs.rid.name.clone(),
            ..Index::default()
        },
        stack: Vec::new(),
        rule: None,
    };
    w.ruleset(rs);
    w.ix
}

fn def_kind(value: &Expr, otherwise: DefKind) -> DefKind {
    match value.kind {
        ExprKind::Function { .. } => DefKind::Function,
        ExprKind::Defaction { .. } => DefKind::Defaction,
        _ => otherwise,
    }
}

impl Walker {
    fn push(&mut self, span: Span) {
        self.stack.push((self.ix.scopes.len(), Vec::new()));
        self.ix.scopes.push(Scope {
            span,
            defs: Vec::new(),
        });
    }

    fn pop(&mut self) {
        self.stack.pop();
    }

    fn define(&mut self, name: &Ident, kind: DefKind, decl: Span) -> usize {
        let i = self.ix.defs.len();
        self.ix.defs.push(Def {
            name: name.name.clone(),
            kind,
            span: name.span,
            decl,
        });
        if let Some((scope, names)) = self.stack.last_mut() {
            names.push((name.name.clone(), i));
            self.ix.scopes[*scope].defs.push(i);
        }
        i
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.stack
            .iter()
            .rev()
            .find_map(|(_, s)| s.iter().rev().find(|(n, _)| n == name).map(|(_, i)| *i))
    }

    fn reference(&mut self, span: Span, target: Target, write: bool) {
        self.ix.refs.push(Ref {
            span,
            target,
            write,
            rule: self.rule,
        });
    }

    fn name_ref(&mut self, span: Span, name: &str, callee: bool) {
        let target = match self.lookup(name) {
            Some(i) => Target::Def(i),
            None if callee || krl_lang::engine::registry().library(name).is_some() => {
                Target::Library(name.to_string())
            }
            None => Target::Unknown(name.to_string()),
        };
        self.reference(span, target, false);
    }

    fn domain_target(&self, domain: &str, name: &str) -> Target {
        if let Some(rid) = self.ix.aliases.get(domain) {
            Target::Module(rid.clone(), name.to_string())
        } else if matches!(domain, "ent" | "app" | "session") {
            Target::Entity(format!("{domain}:{name}"))
        } else {
            Target::Member(domain.to_string(), name.to_string())
        }
    }

    fn ruleset(&mut self, rs: &Ruleset) {
        self.push(rs.span);
        self.define(&rs.rid, DefKind::Ruleset, rs.span);
        for m in &rs.meta {
            match &m.kind {
                MetaKind::Use {
                    rid, alias, with, ..
                } => {
                    let a = alias.as_ref().unwrap_or(rid);
                    self.ix.aliases.insert(a.name.clone(), rid.name.clone());
                    self.define(a, DefKind::Alias, m.span);
                    for d in with {
                        self.expr(&d.value);
                    }
                }
                MetaKind::Configure { decls } => {
                    for d in decls {
                        self.expr(&d.value);
                        self.define(&d.name, DefKind::Configure, d.span);
                    }
                }
                MetaKind::Provides { names } => self
                    .ix
                    .provides
                    .extend(names.iter().map(|n| n.name.clone())),
                _ => {}
            }
        }
        // every global is visible in every function and rule
        for d in &rs.global {
            self.define(&d.name, def_kind(&d.value, DefKind::Global), d.span);
        }
        for m in &rs.meta {
            if let MetaKind::Shares { names } | MetaKind::Provides { names } = &m.kind {
                for n in names {
                    self.name_ref(n.span, &n.name, false);
                }
            }
        }
        for d in &rs.global {
            self.expr(&d.value);
        }
        for r in &rs.rules {
            self.rule(r);
        }
        self.pop();
    }

    fn rule(&mut self, r: &Rule) {
        let i = self.define(&r.name, DefKind::Rule, r.span);
        self.rule = Some(i);
        self.push(r.span);
        match &r.select {
            Some(krl_lang::syntax::ast::Select::When { expr, within }) => {
                self.event(expr, i);
                if let Some(w) = within {
                    self.expr(&w.amount);
                }
            }
            Some(krl_lang::syntax::ast::Select::Where { expr }) => self.expr(expr),
            Some(krl_lang::syntax::ast::Select::Using { pattern, setting }) => {
                self.expr(pattern);
                for s in setting {
                    self.define(s, DefKind::Setting, s.span);
                }
            }
            None => {}
        }
        for f in &r.foreach {
            self.expr(&f.expr);
            for s in &f.setting {
                self.define(s, DefKind::Setting, f.span);
            }
        }
        for d in &r.pre {
            self.expr(&d.value);
            self.define(&d.name, def_kind(&d.value, DefKind::Local), d.span);
        }
        if let Some(a) = &r.actions {
            self.actions(a);
        }
        if let Some(p) = &r.postlude {
            for s in p
                .body
                .iter()
                .chain(p.else_body.iter().flatten())
                .chain(p.finally_body.iter().flatten())
            {
                self.stmt(s);
            }
        }
        self.pop();
        self.rule = None;
    }

    fn event(&mut self, e: &EventExpr, rule: usize) {
        match &e.kind {
            EventKind::Simple(s) => {
                self.ix.selects.push(Select {
                    domain: s.domain.name.clone(),
                    kind: s.name.name.clone(),
                    rule,
                    span: Span {
                        start: s.domain.span.start,
                        end: s.name.span.end,
                    },
                });
                for n in &s.setting {
                    self.define(n, DefKind::Setting, n.span);
                }
                if let Some(c) = &s.condition {
                    self.expr(c);
                }
            }
            EventKind::Op { args, .. } | EventKind::Any { args, .. } => {
                for a in args {
                    self.event(a, rule);
                }
            }
            EventKind::Between {
                middle,
                first,
                last,
                ..
            } => {
                self.event(middle, rule);
                self.event(first, rule);
                self.event(last, rule);
            }
            EventKind::Aggregate {
                inner, aggregator, ..
            } => {
                self.event(inner, rule);
                for n in aggregator.iter().flat_map(|a| &a.names) {
                    self.define(n, DefKind::Setting, n.span);
                }
            }
            EventKind::Web { setting, .. } => {
                for n in setting {
                    self.define(n, DefKind::Setting, n.span);
                }
            }
        }
    }

    fn actions(&mut self, b: &ActionBlock) {
        if let Some(c) = &b.condition {
            self.expr(c);
        }
        if let BlockKind::Choose { expr } = &b.kind {
            self.expr(expr);
        }
        for a in &b.actions {
            match &a.domain {
                Some(d) => {
                    let t = self.domain_target(&d.name, &a.name.name);
                    let span = Span {
                        start: d.span.start,
                        end: a.name.span.end,
                    };
                    self.reference(span, t, false);
                }
                None => self.name_ref(a.name.span, &a.name.name, true),
            }
            for arg in &a.args {
                self.expr(&arg.value);
            }
            for m in &a.modifiers {
                self.expr(&m.value);
            }
            for s in &a.setting {
                self.define(s, DefKind::Setting, a.span);
            }
        }
    }

    fn persistent(&mut self, p: &Persistent, write: bool) {
        let scope = match p.scope {
            PersistentScope::Ent => "ent",
            PersistentScope::App => "app",
            PersistentScope::Session => "session",
        };
        let span = Span {
            start: p.span.start,
            end: p.name.span.end,
        };
        self.reference(
            span,
            Target::Entity(format!("{scope}:{}", p.name.name)),
            write,
        );
        if let Some(path) = &p.path {
            self.expr(path);
        }
    }

    fn event_ref(&mut self, e: &EventRef) {
        if let (Some(d), ExprKind::Str { value }) = (&e.domain, &e.event_type.kind) {
            let span = Span {
                start: d.span.start,
                end: e.event_type.span.end,
            };
            self.reference(span, Target::Event(d.name.clone(), value.clone()), false);
        } else if let (None, ExprKind::Str { value }) = (&e.domain, &e.event_type.kind) {
            if let Some((d, t)) = value.split_once(':') {
                let t = Target::Event(d.to_string(), t.to_string());
                self.reference(e.event_type.span, t, false);
            }
        }
        self.expr(&e.event_type);
        if let Some(a) = &e.attributes {
            self.expr(a);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        if let Some(Guard::If { expr }) = &s.guard {
            self.expr(expr);
        }
        match &s.kind {
            StmtKind::Decl(d) => {
                self.expr(&d.value);
                self.define(&d.name, def_kind(&d.value, DefKind::Local), d.span);
            }
            StmtKind::Assign { target, value } => {
                self.expr(value);
                self.persistent(target, true);
            }
            StmtKind::Increment {
                target, by, from, ..
            } => {
                self.expr(by);
                self.expr(from);
                self.persistent(target, true);
            }
            StmtKind::Clear { target } => self.persistent(target, true),
            StmtKind::Raise { event, for_rid } => {
                self.event_ref(event);
                if let Some(f) = for_rid {
                    self.expr(f);
                }
            }
            StmtKind::Schedule {
                event,
                when,
                setting,
            } => {
                self.event_ref(event);
                match when {
                    ScheduleWhen::At { expr } | ScheduleWhen::Repeat { expr } => self.expr(expr),
                }
                if let Some(n) = setting {
                    self.define(n, DefKind::Setting, s.span);
                }
            }
            StmtKind::Log { expr, .. } | StmtKind::Error { expr, .. } => self.expr(expr),
            StmtKind::Last => {}
        }
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            if let Some(d) = &p.default {
                self.expr(d);
            }
            self.define(&p.name, DefKind::Param, p.span);
        }
    }

    fn expr(&mut self, e: &Expr) {
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
            ExprKind::Array { items } => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Map { entries } => entries.iter().for_each(|(_, v)| self.expr(v)),
            ExprKind::Ident { name } => self.name_ref(e.span, name, false),
            ExprKind::Domain { domain, name } => {
                let t = self.domain_target(domain, name);
                self.reference(e.span, t, false);
            }
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
                match &callee.kind {
                    ExprKind::Ident { name } => self.name_ref(callee.span, name, true),
                    _ => self.expr(callee),
                }
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Method {
                receiver,
                domain,
                name,
                args,
            } => {
                self.expr(receiver);
                let t = match domain {
                    Some(d) => self.domain_target(d, &name.name),
                    None => Target::Library(name.name.clone()),
                };
                self.reference(name.span, t, false);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Path { target, path } => {
                self.expr(target);
                self.expr(path);
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
            ExprKind::Property { target, .. } => self.expr(target),
            ExprKind::Function {
                params,
                body,
                result,
            } => {
                self.push(e.span);
                self.params(params);
                for d in body {
                    self.expr(&d.value);
                    self.define(&d.name, def_kind(&d.value, DefKind::Local), d.span);
                }
                self.expr(result);
                self.pop();
            }
            ExprKind::Defaction {
                params,
                body,
                actions,
                result,
            } => {
                self.push(e.span);
                self.params(params);
                for d in body {
                    self.expr(&d.value);
                    self.define(&d.name, def_kind(&d.value, DefKind::Local), d.span);
                }
                self.actions(actions);
                if let Some(r) = result {
                    self.expr(r);
                }
                self.pop();
            }
        }
    }
}
