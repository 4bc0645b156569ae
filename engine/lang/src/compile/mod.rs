//! AST → [`ir`] in one pass: resolves every name, once, to a frame slot or
//! a member of the native-module [`Registry`] (library functions included),
//! compiles regexes and event expressions, folds constants, and collects
//! every diagnostic of names on the way (undefined names, actions used as
//! functions and the reverse, unknown modules and actions, the registry's
//! literal checks). [`check`] holds the lints, which need no scopes.

pub mod check;
pub mod ir;

use crate::native::{CheckCall, Kind, Member, Module, Registry, Unknown, MISUSED, NOT_SUPPORTED};
use crate::runtime::select::Matcher;
use crate::runtime::{Map, Regex, RuntimeError, Value};
use crate::syntax::ast::{self, ExprKind, MetaKind, PersistentScope, Span};
use crate::syntax::{Diagnostic, LineIndex};
use ir::*;
use std::collections::HashMap;
use std::sync::Arc;

/// `use module RID alias A with ...`
pub struct UseDef {
    /// The module's rid.
    pub rid: Arc<str>,
    /// The alias (the rid when none).
    pub alias: Arc<str>,
    /// Configuration overrides, evaluated in the using ruleset's globals.
    pub with: Vec<(Arc<str>, Expr)>,
}

/// A ruleset ready to install: its compiled form and its source (kept for
/// positions in runtime errors).
pub struct Ruleset {
    /// The compiled form.
    pub compiled: Arc<Compiled>,
    /// The source text.
    pub source: Arc<str>,
    lines: LineIndex,
}

impl Ruleset {
    /// A compiled ruleset with its source.
    pub fn new(compiled: Compiled, source: &str) -> Ruleset {
        Ruleset {
            compiled: Arc::new(compiled),
            source: Arc::from(source),
            lines: LineIndex::new(source),
        }
    }

    /// The ruleset id.
    pub fn rid(&self) -> &str {
        &self.compiled.rid
    }

    /// 1-based line and column of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        self.lines.line_col(&self.source, span.start as usize)
    }
}

/// A classic `use module RID ... with` naming a native module: its domain
/// and the `with` options.
pub type NativeUse = (&'static str, Vec<(Arc<str>, Expr)>);

/// A compiled ruleset, immutable and shared.
pub struct Compiled {
    /// Its id.
    pub rid: Arc<str>,
    /// `version` from meta, when a string.
    pub version: Option<String>,
    /// `name`, `description`, `author` from meta, when strings.
    pub meta_strings: Map,
    /// Names listed in `shares`.
    pub shares: Vec<Arc<str>>,
    /// Names listed in `provides`.
    pub provides: Vec<Arc<str>>,
    /// `key NAME value` (classic).
    pub keys: Vec<(Arc<str>, Expr)>,
    /// Modules used.
    pub uses: Vec<UseDef>,
    /// Classic `use module RID ... with` naming a native module (the
    /// Kynetx Twilio library `a8x115`): the module's domain and options.
    pub native_uses: Vec<NativeUse>,
    /// `configure using` names: (name, slot, default).
    pub configure: Vec<(Arc<str>, u16, Expr)>,
    /// Global declarations after the configuration: (slot, value).
    pub globals: Vec<(u16, Expr)>,
    /// Global names and their slots.
    pub global_slots: HashMap<Arc<str>, u16>,
    /// Size of the global frame.
    pub global_frame_size: usize,
    /// Active rules in order.
    pub rules: Vec<Rule>,
    /// What `__testing` answers unless a global overrides it (docs/spec/krl-language.md 9.8).
    pub testing: Value,
}

impl Compiled {
    /// The slot of a global name.
    pub fn global(&self, name: &str) -> Option<u16> {
        self.global_slots.get(name).copied()
    }
}

/// Compiles an AST against `registry`: the compiled ruleset unless there
/// was an error, and every diagnostic of the pass (errors and warnings).
pub fn compile_ruleset(
    rs: &ast::Ruleset,
    registry: &'static Registry,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    let mut c = Compiler {
        registry: Some(registry),
        rule_vars: check::rule_vars(rs),
        ..Compiler::default()
    };
    // recursion follows the AST's nesting, bounded by the parser
    let result = stacker::maybe_grow(
        crate::syntax::STACK_RED_ZONE,
        crate::syntax::STACK_SIZE,
        || c.ruleset(rs),
    );
    let mut diags = std::mem::take(&mut c.diags);
    let compiled = match result {
        Ok(compiled) => Some(compiled),
        Err((span, msg)) => {
            diags.push(Diagnostic::error(span, msg));
            None
        }
    };
    let compiled = compiled.filter(|_| !diags.iter().any(Diagnostic::is_error));
    (compiled, diags)
}

type CResult<T> = Result<T, (Span, String)>;

/// What `Compiler::callable` compiled.
struct CallableParts<T> {
    params: Vec<Arc<str>>,
    defaults: Vec<Option<Expr>>,
    body: Vec<(u16, Expr)>,
    tail: T,
    frame_size: usize,
}

/// What a name is bound to, as far as the compiler can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// a plain value (or unknown: a parameter, a setting variable)
    Value,
    /// a function literal
    Function,
    /// a defaction
    Action,
}

fn bound_of(e: &ast::Expr) -> Bound {
    match e.kind {
        ExprKind::Function { .. } => Bound::Function,
        ExprKind::Defaction { .. } => Bound::Action,
        _ => Bound::Value,
    }
}

#[derive(Default)]
struct Frame {
    names: HashMap<Arc<str>, (u16, Bound)>,
    /// Names declared later in the same block: visible only from inside
    /// function bodies (which run after the block is evaluated).
    later: HashMap<Arc<str>, (u16, Bound)>,
    size: usize,
    fn_depth: u32,
}

#[derive(Default)]
struct Compiler {
    registry: Option<&'static Registry>,
    frames: Vec<Frame>,
    fn_depth: u32,
    aliases: HashMap<Arc<str>, usize>,
    /// aliases of native modules (classic `use module a8x115 alias twilio`)
    builtin_aliases: HashMap<Arc<str>, &'static Module>,
    keys: Vec<Arc<str>>,
    rid: Arc<str>,
    meta_strings: Map,
    /// Event attributes the `where` clause being compiled may name bare
    /// ([`Registry::where_attrs`]).
    where_attrs: &'static [&'static str],
    /// Compiling a `where` clause (for the hint of an undefined name).
    in_where: bool,
    /// Setting and foreach variables → their rule, for hints.
    rule_vars: HashMap<String, String>,
    /// What `__testing` is unless a global defines it.
    testing: Value,
    /// Diagnostics so far.
    diags: Vec<Diagnostic>,
}

enum Resolved {
    Slot(Slot, Bound),
    Library(&'static Member),
}

impl Compiler {
    fn registry(&self) -> &'static Registry {
        self.registry.expect("a registry is set")
    }

    fn push_frame(&mut self) {
        self.frames.push(Frame {
            fn_depth: self.fn_depth,
            ..Frame::default()
        });
    }

    fn pop_frame(&mut self) -> usize {
        self.frames.pop().expect("a frame is open").size
    }

    fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, msg));
    }

    /// Sets what the binding of `name` in the current frame is.
    fn rebind(&mut self, name: &str, bound: Bound) {
        let f = self.frames.last_mut().expect("a frame is open");
        if let Some(b) = f.names.get_mut(name) {
            b.1 = bound;
        }
    }

    fn alloc(&mut self, name: &str) -> u16 {
        let f = self.frames.last_mut().expect("a frame is open");
        let slot = f.size as u16;
        f.size += 1;
        f.names.insert(Arc::from(name), (slot, Bound::Value));
        f.later.remove(name);
        slot
    }

    /// An action called in an expression: an error where the expression is
    /// evaluated directly (globals, `pre`, postlude), a warning inside a
    /// function body, which fails only if it is ever called.
    fn action_as_function(&mut self, span: Span, what: &str) {
        if self.fn_depth > 0 {
            self.warn(
                span,
                format!(
                    "`{what}` is an action, not a function: this call fails when the function runs"
                ),
            );
        } else {
            self.error(
                span,
                format!(
                    "`{what}` is an action, not a function: run it in an action position (an action block or a defaction), not in an expression"
                ),
            );
        }
    }

    fn undefined(&mut self, name: &str, span: Span) {
        let hint = match self.rule_vars.get(name) {
            Some(rule) => format!(
                " (`{name}` is a setting or foreach variable of rule `{rule}`, visible only in that rule's body)"
            ),
            None if self.in_where => format!(
                " (event attributes are not variables: read this one as `event:attrs{{\"{name}\"}}`, or bind it with `setting(...)`)"
            ),
            None => String::new(),
        };
        self.error(span, format!("undefined name `{name}`{hint}"));
    }

    /// Is `domain` a module this ruleset can name?
    fn known_domain(&self, domain: &str) -> bool {
        self.aliases.contains_key(domain)
            || self.builtin_aliases.contains_key(domain)
            || self.registry().module(domain).is_some()
            || matches!(domain, "ent" | "app" | "session")
    }

    fn unknown_domain(&mut self, domain: &str, span: Span) {
        self.error(
            span,
            format!(
                "unknown module `{domain}`: not a built-in module and no `use module ... alias {domain}` in meta"
            ),
        );
    }

    fn resolve(&self, name: &str) -> Option<Resolved> {
        for (up, f) in self.frames.iter().rev().enumerate() {
            if let Some(&(index, bound)) = f.names.get(name) {
                return Some(Resolved::Slot(
                    Slot {
                        up: up as u16,
                        index,
                    },
                    bound,
                ));
            }
            if self.fn_depth > f.fn_depth {
                if let Some(&(index, bound)) = f.later.get(name) {
                    return Some(Resolved::Slot(
                        Slot {
                            up: up as u16,
                            index,
                        },
                        bound,
                    ));
                }
            }
        }
        self.registry()
            .library(name)
            .filter(|m| matches!(m.kind, Kind::Library(_) | Kind::LibraryAndNoOp(_)))
            .map(Resolved::Library)
    }

    fn ruleset(&mut self, rs: &ast::Ruleset) -> CResult<Compiled> {
        self.rid = Arc::from(rs.rid.name.as_str());
        let mut version = None;
        let mut shares = Vec::new();
        let mut provides = Vec::new();
        let mut uses = Vec::new();
        let mut key_decls = Vec::new();
        for m in &rs.meta {
            match &m.kind {
                MetaKind::Name { value } => self.meta_string("name", value),
                MetaKind::Description { value } => self.meta_string("description", value),
                MetaKind::Author { value } => self.meta_string("author", value),
                MetaKind::Version { value } => {
                    if let ExprKind::Str { value } = &value.kind {
                        version = Some(value.clone());
                    }
                }
                MetaKind::Shares { names } => {
                    shares.extend(names.iter().map(|n| Arc::from(n.name.as_str())))
                }
                MetaKind::Provides { names } => {
                    provides.extend(names.iter().map(|n| Arc::from(n.name.as_str())))
                }
                MetaKind::Key { name, .. } => self.keys.push(Arc::from(name.name.as_str())),
                MetaKind::Use { rid, alias, .. }
                    if self.registry().classic(&rid.name).is_some() =>
                {
                    // a classic library that is a native module
                    let alias: Arc<str> = Arc::from(alias.as_ref().unwrap_or(rid).name.as_str());
                    let module = self.registry().classic(&rid.name).expect("checked");
                    self.builtin_aliases.insert(alias, module);
                }
                MetaKind::Use { rid, alias, .. } => {
                    let alias: Arc<str> = Arc::from(alias.as_ref().unwrap_or(rid).name.as_str());
                    self.aliases.insert(alias, self.aliases.len());
                }
                _ => {}
            }
        }
        self.testing = testing(rs, &shares, &check::event_attrs(rs));
        self.push_frame(); // the global frame
        let mut configure = Vec::new();
        let mut native_uses = Vec::new();
        for m in &rs.meta {
            if let MetaKind::Configure { decls } = &m.kind {
                for d in decls {
                    let value = self.expr(&d.value)?;
                    let slot = self.alloc(&d.name.name);
                    self.rebind(&d.name.name, bound_of(&d.value));
                    configure.push((Arc::from(d.name.name.as_str()), slot, value));
                }
            }
        }
        for m in &rs.meta {
            match &m.kind {
                MetaKind::Use {
                    rid, with, version, ..
                } if self.registry().classic(&rid.name).is_some() => {
                    // `with twiliokeys = keys:twilio()`: the module's options
                    if let Some(v) = version {
                        self.expr(v)?;
                    }
                    let module = self.registry().classic(&rid.name).expect("checked");
                    let mut w = Vec::new();
                    for d in with {
                        w.push((Arc::from(d.name.name.as_str()), self.expr(&d.value)?));
                    }
                    native_uses.push((module.domain, w));
                }
                MetaKind::Use {
                    rid,
                    alias,
                    with,
                    version,
                } => {
                    if let Some(v) = version {
                        self.expr(v)?;
                    }
                    let mut w = Vec::new();
                    for d in with {
                        w.push((Arc::from(d.name.name.as_str()), self.expr(&d.value)?));
                    }
                    uses.push(UseDef {
                        rid: Arc::from(rid.name.as_str()),
                        alias: Arc::from(alias.as_ref().unwrap_or(rid).name.as_str()),
                        with: w,
                    });
                }
                MetaKind::Key { name, value } => {
                    key_decls.push((Arc::from(name.name.as_str()), self.expr(value)?))
                }
                // compiled for their diagnostics only (the strings are read
                // above)
                MetaKind::Name { value }
                | MetaKind::Description { value }
                | MetaKind::Author { value }
                | MetaKind::Version { value } => {
                    self.expr(value)?;
                }
                _ => {}
            }
        }
        let globals = self.block(&rs.global)?;
        let global_slots = self.frames[0]
            .names
            .iter()
            .map(|(k, (slot, _))| (k.clone(), *slot))
            .collect();
        let mut rules = Vec::new();
        for r in rs.rules.iter().filter(|r| r.active) {
            rules.push(self.rule(r)?);
        }
        let global_frame_size = self.pop_frame();
        let testing = std::mem::replace(&mut self.testing, Value::Null);
        Ok(Compiled {
            rid: self.rid.clone(),
            version,
            meta_strings: std::mem::take(&mut self.meta_strings),
            shares,
            provides,
            keys: key_decls,
            uses,
            native_uses,
            configure,
            globals,
            global_slots,
            global_frame_size,
            rules,
            testing,
        })
    }

    fn meta_string(&mut self, key: &str, value: &ast::Expr) {
        if let ExprKind::Str { value } = &value.kind {
            self.meta_strings
                .insert(Arc::from(key), Value::from(value.as_str()));
        }
    }

    /// A block of declarations in the current frame (docs/spec/krl-language.md 4.10).
    fn block(&mut self, decls: &[ast::Decl]) -> CResult<Vec<(u16, Expr)>> {
        // Later names get their slots now; only function bodies see them.
        let mut reserved = Vec::with_capacity(decls.len());
        for d in decls {
            let f = self.frames.last_mut().expect("a frame is open");
            let slot = f.size as u16;
            f.size += 1;
            f.later
                .insert(Arc::from(d.name.name.as_str()), (slot, bound_of(&d.value)));
            reserved.push(slot);
        }
        let mut out = Vec::with_capacity(decls.len());
        for (d, slot) in decls.iter().zip(reserved) {
            out.push((slot, self.decl_into(d, slot)?));
        }
        Ok(out)
    }

    /// Compiles a declaration whose slot is already reserved.
    fn decl_into(&mut self, d: &ast::Decl, slot: u16) -> CResult<Expr> {
        let name: Arc<str> = Arc::from(d.name.name.as_str());
        let is_fn = matches!(
            d.value.kind,
            ExprKind::Function { .. } | ExprKind::Defaction { .. }
        );
        let bound = bound_of(&d.value);
        let bind = |c: &mut Compiler| {
            let f = c.frames.last_mut().expect("a frame is open");
            f.later.remove(&name);
            f.names.insert(name.clone(), (slot, bound));
        };
        if is_fn {
            bind(self);
            self.named_expr(&d.value, &d.name.name)
        } else {
            // the right-hand side sees the outer binding of its own name
            self.frames
                .last_mut()
                .expect("a frame is open")
                .later
                .remove(&name);
            let e = self.expr(&d.value)?;
            bind(self);
            Ok(e)
        }
    }

    /// A declaration in sequential code (postlude): a fresh slot.
    fn decl_fresh(&mut self, d: &ast::Decl) -> CResult<(u16, Expr)> {
        let slot = {
            let f = self.frames.last_mut().expect("a frame is open");
            let s = f.size as u16;
            f.size += 1;
            s
        };
        let e = self.decl_into(d, slot)?;
        Ok((slot, e))
    }

    // ------------------------------------------------------------ rules

    fn rule(&mut self, r: &ast::Rule) -> CResult<Rule> {
        self.push_frame();
        let mut setting_slots = Vec::new();
        let select = match &r.select {
            Some(ast::Select::When { expr, within }) => {
                let within_ms = match within {
                    Some(w) => Some(self.const_number(&w.amount)? * w.unit_ms as f64),
                    None => None,
                };
                let matcher = match Matcher::compile(expr, within_ms) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        // reported; the rest of the rule is still compiled,
                        // its setting names bound, for its own diagnostics
                        self.error(e.span.unwrap_or(expr.span), e.message);
                        None
                    }
                };
                let names: Vec<Arc<str>> = match &matcher {
                    Some(m) => m.setting_names().to_vec(),
                    None => {
                        let mut names = Vec::new();
                        check::collect_settings(expr, &mut names);
                        names.iter().map(|n| Arc::from(n.as_str())).collect()
                    }
                };
                for name in &names {
                    let slot = self.alloc(name);
                    setting_slots.push((name.clone(), slot));
                }
                // In the order of `runtime::select::where_clauses`.
                let mut wheres = Vec::new();
                for s in expr.simple_events() {
                    if let Some(w) = &s.condition {
                        self.where_attrs =
                            self.registry().where_attrs(&s.domain.name, &s.name.name);
                        self.in_where = true;
                        let compiled = self.expr(w);
                        self.in_where = false;
                        self.where_attrs = &[];
                        wheres.push(compiled?);
                    }
                }
                match matcher {
                    Some(matcher) => Selector::When { matcher, wheres },
                    None => Selector::Never,
                }
            }
            Some(ast::Select::Where { expr }) => Selector::Where(self.expr(expr)?),
            Some(ast::Select::Using { pattern, setting }) => {
                self.expr(pattern)?;
                for n in setting {
                    self.alloc(&n.name);
                }
                Selector::Never
            }
            None => Selector::Never,
        };
        let mut foreach = Vec::new();
        for f in &r.foreach {
            let collection = self.expr(&f.expr)?;
            let slots = f.setting.iter().map(|n| self.alloc(&n.name)).collect();
            foreach.push((collection, slots));
        }
        let pre = self.block(&r.pre)?;
        let actions = match &r.actions {
            Some(b) => Some(self.action_block(b)?),
            None => None,
        };
        let mut postlude = Vec::new();
        if let Some(p) = &r.postlude {
            let (first, second) = match p.kind {
                ast::PostludeKind::Fired => (When::Fired, When::NotFired),
                ast::PostludeKind::NotFired => (When::NotFired, When::Fired),
                ast::PostludeKind::Always => (When::Always, When::Always),
            };
            postlude.push((first, self.stmts(&p.body)?));
            if let Some(b) = &p.else_body {
                postlude.push((second, self.stmts(b)?));
            }
            if let Some(b) = &p.finally_body {
                postlude.push((When::Always, self.stmts(b)?));
            }
        }
        let frame_size = self.pop_frame();
        Ok(Rule {
            name: Arc::from(r.name.name.as_str()),
            select,
            setting_slots,
            foreach,
            frame_size,
            pre,
            actions,
            postlude,
            span: r.span,
        })
    }

    fn const_number(&mut self, e: &ast::Expr) -> CResult<f64> {
        if let Some(n) = const_arithmetic(e) {
            return Ok(n);
        }
        let message = match self.expr(e)? {
            Expr::Const(v) => match v.to_number() {
                Some(n) => return Ok(n),
                None => "`within` needs a number",
            },
            _ => "`within` needs a constant amount (a number or arithmetic on numbers)",
        };
        self.error(e.span, message);
        Ok(0.0)
    }

    fn action_block(&mut self, b: &ast::ActionBlock) -> CResult<ActionBlock> {
        let condition = match &b.condition {
            Some(c) => Some(self.expr(c)?),
            None => None,
        };
        let kind = match &b.kind {
            ast::BlockKind::Every => BlockKind::Every,
            ast::BlockKind::Sample => BlockKind::Sample,
            ast::BlockKind::Choose { expr } => BlockKind::Choose(self.expr(expr)?),
        };
        let mut actions = Vec::new();
        for a in &b.actions {
            actions.push(self.action(a)?);
        }
        Ok(ActionBlock {
            condition,
            kind,
            actions,
        })
    }

    fn action(&mut self, a: &ast::Action) -> CResult<Action> {
        let name = a.name.name.as_str();
        let native =
            |c: &mut Compiler, domain: &str, m: &'static Member| -> CResult<ActionTarget> {
                let call = c.native_call(m, domain, name, &a.args, &a.modifiers, false, a.span)?;
                Ok(ActionTarget::Native(Box::new(call)))
            };
        let mut args = Args::default();
        let user_args = |c: &mut Compiler, args: &mut Args| -> CResult<()> {
            *args = c.args(&a.args)?;
            for m in &a.modifiers {
                args.named
                    .push((Arc::from(m.name.name.as_str()), c.expr(&m.value)?));
            }
            Ok(())
        };
        let target = match &a.domain {
            Some(d) => match self.aliases.get(d.name.as_str()) {
                Some(&i) if !self.builtin_aliases.contains_key(d.name.as_str()) => {
                    user_args(self, &mut args)?;
                    ActionTarget::ModuleMember(i, Arc::from(name))
                }
                _ => match self.module_of(&d.name) {
                    None => {
                        if !self.known_domain(&d.name) {
                            self.unknown_domain(&d.name, d.span);
                        }
                        native(self, &d.name, &NOT_SUPPORTED)?
                    }
                    Some(module) => {
                        let member = self.native_action(a, &d.name, module);
                        native(self, &d.name, member)?
                    }
                },
            },
            None => match self.resolve(name) {
                Some(Resolved::Slot(_, bound)) => {
                    if bound == Bound::Function && name != "noop" {
                        self.warn(
                            a.name.span,
                            format!("`{name}` is a function, not an action: it will fail when run"),
                        );
                    }
                    user_args(self, &mut args)?;
                    ActionTarget::Value(self.ident(name, a.name.span)?)
                }
                resolved => match self.registry().library(name) {
                    Some(m) if m.is_action() => native(self, "", m)?,
                    _ if resolved.is_some() => {
                        self.warn(
                            a.name.span,
                            format!("`{name}` is a function, not an action: it will fail when run"),
                        );
                        // a library function is no action the compiler binds
                        self.error(a.name.span, format!("unknown action `{name}`"));
                        native(self, "", &MISUSED)?
                    }
                    _ => {
                        self.error(
                            a.name.span,
                            format!(
                                "unknown action `{name}`: not a built-in action nor a defaction in scope"
                            ),
                        );
                        native(self, "", &MISUSED)?
                    }
                },
            },
        };
        let setting = a.setting.first().map(|n| self.alloc(&n.name));
        Ok(Action {
            label: a.label.as_ref().map(|l| Arc::from(l.name.as_str())),
            target,
            args,
            setting,
            span: a.span,
        })
    }

    /// The member a native action runs: it exists (in a module that refuses
    /// unknown names), it is an action, and its own checks of literal
    /// arguments pass (a `twilio:` verb's attributes, `mqtt:` options);
    /// otherwise an error, and a member that fails when run.
    fn native_action(
        &mut self,
        a: &ast::Action,
        domain: &str,
        module: &'static Module,
    ) -> &'static Member {
        let name = a.name.name.as_str();
        let Some(member) = module.member(name) else {
            if module.unknown == Unknown::Refused {
                self.error(a.name.span, unknown_action(domain, module, name));
                return &MISUSED;
            }
            // an open module's members (`keys:NAME`) are no actions
            return self
                .module_member(module, name)
                .filter(|m| m.is_action())
                .unwrap_or(&NOT_SUPPORTED);
        };
        if !member.is_action() {
            if module.unknown == Unknown::Refused {
                self.error(
                    a.name.span,
                    format!(
                        "`{domain}:{name}` is a function, not an action: use it in an expression"
                    ),
                );
            }
            return &NOT_SUPPORTED;
        }
        self.run_check(member, domain, &a.args, &a.modifiers);
        member
    }

    /// The member's checks of its literal arguments, if it has any.
    fn run_check(
        &mut self,
        member: &'static Member,
        domain: &str,
        args: &[ast::Arg],
        modifiers: &[ast::Decl],
    ) {
        let Some(check) = member.check else {
            return;
        };
        let call = CheckCall {
            domain,
            member,
            positional: args
                .iter()
                .filter(|arg| arg.name.is_none())
                .map(|arg| (arg.value.span, literal(&arg.value)))
                .collect(),
            named: args
                .iter()
                .filter_map(|arg| arg.name.as_ref().map(|n| (n, &arg.value)))
                .chain(modifiers.iter().map(|m| (&m.name, &m.value)))
                .map(|(n, v)| (n.name.as_str(), n.span, v.span, literal(v)))
                .collect(),
        };
        for (span, message) in check(&call) {
            self.error(span, message);
        }
    }

    /// The native module `domain` names: a classic alias, or its own.
    fn module_of(&self, domain: &str) -> Option<&'static Module> {
        match self.builtin_aliases.get(domain) {
            Some(m) => Some(*m),
            None => self.registry().module(domain),
        }
    }

    /// The member `name` of `module`: its own, the open member, or "not
    /// supported"; `None` for a name a closed module refuses.
    fn module_member(&self, module: &'static Module, name: &str) -> Option<&'static Member> {
        module.member(name).or(match module.unknown {
            Unknown::Open => module.open,
            Unknown::NotSupported => Some(&NOT_SUPPORTED),
            Unknown::Refused => None,
        })
    }

    /// A native call: positional arguments in order, named ones (and `with`
    /// modifiers) bound to the member's parameters, the rest kept by name.
    #[allow(clippy::too_many_arguments)]
    fn native_call(
        &mut self,
        member: &'static Member,
        domain: &str,
        name: &str,
        args: &[ast::Arg],
        modifiers: &[ast::Decl],
        bare: bool,
        span: Span,
    ) -> CResult<NativeCall> {
        let mut out: Vec<Option<Expr>> = Vec::new();
        let mut named = Vec::new();
        let all = args
            .iter()
            .map(|a| (a.name.as_ref().map(|n| n.name.as_str()), &a.value))
            .chain(
                modifiers
                    .iter()
                    .map(|m| (Some(m.name.name.as_str()), &m.value)),
            );
        for (arg_name, value) in all {
            let v = self.expr(value)?;
            let i = match arg_name {
                None => out.len(),
                Some(n) => match member.params.iter().position(|p| *p == n) {
                    Some(i) => i,
                    None => {
                        named.push((Arc::from(n), v));
                        continue;
                    }
                },
            };
            if out.len() <= i {
                out.resize_with(i + 1, || None);
            }
            out[i] = Some(v);
        }
        Ok(NativeCall {
            member,
            domain: Arc::from(domain),
            name: Arc::from(name),
            args: out
                .into_iter()
                .map(|v| v.unwrap_or(Expr::Const(Value::Null)))
                .collect(),
            named,
            bare,
            span,
        })
    }

    fn stmts(&mut self, stmts: &[ast::Stmt]) -> CResult<Vec<Guarded>> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            let (guard_if, on_final) = match &s.guard {
                Some(ast::Guard::If { expr }) => (Some(self.expr(expr)?), false),
                Some(ast::Guard::OnFinal) => (None, true),
                None => (None, false),
            };
            let stmt = match &s.kind {
                ast::StmtKind::Decl(d) => {
                    let (slot, e) = self.decl_fresh(d)?;
                    Stmt::Decl(slot, e)
                }
                ast::StmtKind::Assign { target, value } => Stmt::Assign {
                    scope: target.scope,
                    name: Arc::from(target.name.name.as_str()),
                    path: self.opt_expr(target.path.as_deref())?,
                    value: Some(self.expr(value)?),
                },
                ast::StmtKind::Clear { target } => Stmt::Assign {
                    scope: target.scope,
                    name: Arc::from(target.name.name.as_str()),
                    path: self.opt_expr(target.path.as_deref())?,
                    value: None,
                },
                ast::StmtKind::Increment {
                    target,
                    subtract,
                    by,
                    from,
                } => Stmt::Increment {
                    scope: target.scope,
                    name: Arc::from(target.name.name.as_str()),
                    subtract: *subtract,
                    by: self.expr(by)?,
                    from: self.expr(from)?,
                },
                ast::StmtKind::Raise { event, for_rid } => Stmt::Raise {
                    domain: event.domain.as_ref().map(|d| Arc::from(d.name.as_str())),
                    event_type: self.event_type(&event.event_type)?,
                    for_rid: self.opt_expr(for_rid.as_ref())?,
                    attributes: self.opt_expr(event.attributes.as_ref())?,
                },
                ast::StmtKind::Schedule {
                    event,
                    when,
                    setting,
                } => {
                    let (at, repeat) = match when {
                        ast::ScheduleWhen::At { expr } => (Some(self.expr(expr)?), None),
                        ast::ScheduleWhen::Repeat { expr } => (None, Some(self.expr(expr)?)),
                    };
                    Stmt::Schedule {
                        domain: event.domain.as_ref().map(|d| Arc::from(d.name.as_str())),
                        event_type: self.event_type(&event.event_type)?,
                        at,
                        repeat,
                        attributes: self.opt_expr(event.attributes.as_ref())?,
                        setting: setting.as_ref().map(|n| self.alloc(&n.name)),
                    }
                }
                ast::StmtKind::Log { level, expr } => Stmt::Log(*level, self.expr(expr)?),
                ast::StmtKind::Error { level, expr } => Stmt::Error(*level, self.expr(expr)?),
                ast::StmtKind::Last => Stmt::Last,
            };
            out.push(Guarded {
                stmt,
                guard_if,
                on_final,
                span: s.span,
            });
        }
        Ok(out)
    }

    /// Classic `raise explicit event foo`: an undeclared bare word is the type.
    fn event_type(&mut self, e: &ast::Expr) -> CResult<Expr> {
        if let ExprKind::Ident { name } = &e.kind {
            if self.resolve(name).is_none() {
                return Ok(Expr::Const(Value::from(name.as_str())));
            }
        }
        self.expr(e)
    }

    fn opt_expr(&mut self, e: Option<&ast::Expr>) -> CResult<Option<Expr>> {
        e.map(|e| self.expr(e)).transpose()
    }

    fn args(&mut self, args: &[ast::Arg]) -> CResult<Args> {
        let mut out = Args::default();
        for a in args {
            let v = self.expr(&a.value)?;
            match &a.name {
                Some(n) => out.named.push((Arc::from(n.name.as_str()), v)),
                None => out.positional.push(v),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ expressions

    fn ident(&mut self, name: &str, span: Span) -> CResult<Expr> {
        match self.resolve(name) {
            Some(Resolved::Slot(s, _)) => Ok(Expr::Var(s, Arc::from(name))),
            Some(Resolved::Library(m)) => Ok(Expr::Library(m)),
            None if self.where_attrs.contains(&name) => {
                let attrs = self
                    .registry()
                    .module("event")
                    .and_then(|m| m.member("attrs"))
                    .ok_or_else(|| (span, "no event module".to_string()))?;
                let call = self.native_call(attrs, "event", "attrs", &[], &[], true, span)?;
                Ok(Expr::Path(
                    Box::new(Expr::Native(Box::new(call))),
                    Box::new(Expr::Const(Value::from(name))),
                ))
            }
            // always queryable; a global may override it
            None if name == "__testing" => Ok(Expr::Const(self.testing.clone())),
            None => {
                self.undefined(name, span);
                Ok(Expr::Const(Value::Null))
            }
        }
    }

    fn named_expr(&mut self, e: &ast::Expr, name: &str) -> CResult<Expr> {
        match &e.kind {
            ExprKind::Function {
                params,
                body,
                result,
            } => {
                let f = self.callable(params, body, |c| c.expr(result))?;
                Ok(Expr::Function(Arc::new(FunctionDef {
                    name: Arc::from(name),
                    params: f.params,
                    defaults: f.defaults,
                    frame_size: f.frame_size,
                    body: f.body,
                    result: f.tail,
                })))
            }
            ExprKind::Defaction {
                params,
                body,
                actions,
                result,
            } => {
                let f = self.callable(params, body, |c| {
                    Ok((c.action_block(actions)?, c.opt_expr(result.as_deref())?))
                })?;
                let (actions, result) = f.tail;
                Ok(Expr::Defaction(Arc::new(DefactionDef {
                    name: Arc::from(name),
                    params: f.params,
                    defaults: f.defaults,
                    frame_size: f.frame_size,
                    body: f.body,
                    actions,
                    result,
                })))
            }
            _ => self.expr(e),
        }
    }

    /// A function or defaction body in its own frame: parameters, then the
    /// declarations, then `tail` (the result, or the actions and return).
    fn callable<T>(
        &mut self,
        params: &[ast::Param],
        body: &[ast::Decl],
        tail: impl FnOnce(&mut Compiler) -> CResult<T>,
    ) -> CResult<CallableParts<T>> {
        self.fn_depth += 1;
        self.push_frame();
        let (params, defaults) = self.params(params)?;
        let body = self.block(body)?;
        let tail = tail(self)?;
        let frame_size = self.pop_frame();
        self.fn_depth -= 1;
        Ok(CallableParts {
            params,
            defaults,
            body,
            tail,
            frame_size,
        })
    }

    #[allow(clippy::type_complexity)]
    fn params(&mut self, params: &[ast::Param]) -> CResult<(Vec<Arc<str>>, Vec<Option<Expr>>)> {
        let mut names = Vec::new();
        let mut defaults = Vec::new();
        for p in params {
            // a default sees the earlier parameters
            defaults.push(self.opt_expr(p.default.as_ref())?);
            self.alloc(&p.name.name);
            names.push(Arc::from(p.name.name.as_str()));
        }
        Ok((names, defaults))
    }

    fn expr(&mut self, e: &ast::Expr) -> CResult<Expr> {
        let out = match &e.kind {
            ExprKind::Null => Expr::Const(Value::Null),
            ExprKind::Bool { value } => Expr::Const(Value::Bool(*value)),
            ExprKind::Number { value } => Expr::Const(Value::number(*value)),
            ExprKind::Str { value } => Expr::Const(Value::from(value.as_str())),
            ExprKind::Template { parts } => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    out.push(match p {
                        ast::StrPart::Text { text } => Expr::Const(Value::from(text.as_str())),
                        ast::StrPart::Expr { expr } => self.expr(expr)?,
                    });
                }
                Expr::Template(out)
            }
            ExprKind::Regex { pattern, flags } => match Regex::new(pattern, flags) {
                Ok(re) => Expr::Const(Value::Regex(Arc::new(re))),
                Err(err) => {
                    self.error(e.span, err.message);
                    Expr::Const(Value::Null)
                }
            },
            ExprKind::Array { items } => {
                let items = items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<CResult<Vec<_>>>()?;
                fold_array(items)
            }
            ExprKind::Map { entries } => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    out.push((Arc::from(k.as_str()), self.expr(v)?));
                }
                fold_map(out)
            }
            ExprKind::Ident { name } => self.ident(name, e.span)?,
            ExprKind::Domain { domain, name } => self.domain(domain, name, e.span)?,
            ExprKind::Unary { op, expr } => {
                let x = self.expr(expr)?;
                Expr::At(Box::new(Expr::Unary(*op, Box::new(x))), e.span)
            }
            ExprKind::Binary { op, left, right } => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                match op {
                    ast::BinOp::And => Expr::And(Box::new(l), Box::new(r)),
                    ast::BinOp::Or => Expr::Or(Box::new(l), Box::new(r)),
                    op => Expr::At(
                        Box::new(Expr::Binary(*op, Box::new(l), Box::new(r))),
                        e.span,
                    ),
                }
            }
            ExprKind::Cond {
                test,
                then,
                otherwise,
            } => Expr::Cond(
                Box::new(self.expr(test)?),
                Box::new(self.expr(then)?),
                Box::new(self.expr(otherwise)?),
            ),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span, false)?,
            ExprKind::Method {
                receiver,
                domain,
                name,
                args,
            } => {
                let mut all = vec![ast::Arg {
                    name: None,
                    value: (**receiver).clone(),
                    span: receiver.span,
                }];
                all.extend(args.iter().cloned());
                let callee = ast::Expr {
                    kind: match domain {
                        Some(d) => ExprKind::Domain {
                            domain: d.clone(),
                            name: name.name.clone(),
                        },
                        None => ExprKind::Ident {
                            name: name.name.clone(),
                        },
                    },
                    span: name.span,
                };
                self.call(&callee, &all, e.span, true)?
            }
            ExprKind::Path { target, path } => {
                Expr::Path(Box::new(self.expr(target)?), Box::new(self.expr(path)?))
            }
            ExprKind::Index { target, index } => {
                Expr::Index(Box::new(self.expr(target)?), Box::new(self.expr(index)?))
            }
            ExprKind::Property { target, name } => Expr::Path(
                Box::new(self.expr(target)?),
                Box::new(Expr::Const(Value::from(name.name.as_str()))),
            ),
            ExprKind::Function { .. } | ExprKind::Defaction { .. } => {
                self.named_expr(e, "anonymous")?
            }
        };
        Ok(out)
    }

    /// `callee(args)`, or a method call `args[0].callee(args[1..])`.
    fn call(
        &mut self,
        callee: &ast::Expr,
        args: &[ast::Arg],
        span: Span,
        method: bool,
    ) -> CResult<Expr> {
        match &callee.kind {
            ExprKind::Ident { name } => match self.resolve(name) {
                Some(Resolved::Library(m)) => {
                    let (Kind::Library(f) | Kind::LibraryAndNoOp(f)) = m.kind else {
                        unreachable!("resolve gives library functions only")
                    };
                    let bound = self.native_call(m, "", name, args, &[], false, span)?;
                    return Ok(Expr::CallLibrary(f, bound.args, span));
                }
                Some(Resolved::Slot(_, Bound::Action)) if name != "noop" => {
                    self.action_as_function(callee.span, name);
                }
                Some(Resolved::Slot(..)) => {}
                None if self.registry().library(name).is_some_and(Member::is_action) => {
                    self.action_as_function(callee.span, name);
                    // not a name the compiler binds: refused even where the
                    // misuse itself is only a warning
                    if self.fn_depth > 0 {
                        self.undefined(name, callee.span);
                    }
                    self.args(args)?;
                    return Ok(Expr::Const(Value::Null));
                }
                None if self.where_attrs.contains(&name.as_str()) || name == "__testing" => {}
                None if method => {
                    self.error(
                        callee.span,
                        format!("unknown function `{name}` (used as a method)"),
                    );
                    self.args(args)?;
                    return Ok(Expr::Const(Value::Null));
                }
                None => {
                    self.undefined(name, callee.span);
                    self.args(args)?;
                    return Ok(Expr::Const(Value::Null));
                }
            },
            ExprKind::Domain { domain, name } if !self.aliases.contains_key(domain.as_str()) => {
                if !self.known_domain(domain) {
                    self.unknown_domain(domain, callee.span);
                    self.args(args)?;
                    return Ok(Expr::Const(Value::Null));
                }
                if let Some(m) = self.member(domain, name) {
                    if !m.is_function() {
                        self.action_as_function(callee.span, &format!("{domain}:{name}"));
                        let call =
                            self.native_call(&MISUSED, domain, name, args, &[], false, span)?;
                        return Ok(Expr::Native(Box::new(call)));
                    }
                    self.run_check(m, domain, args, &[]);
                    let mut call = self.native_call(m, domain, name, args, &[], false, span)?;
                    // in an expression, named arguments that are no
                    // parameter are ignored (and not evaluated)
                    call.named.clear();
                    return Ok(Expr::Native(Box::new(call)));
                }
            }
            _ => {}
        }
        let f = self.expr(callee)?;
        let a = self.args(args)?;
        Ok(Expr::Call(Box::new(f), a, span))
    }

    fn domain(&mut self, domain: &str, name: &str, span: Span) -> CResult<Expr> {
        match domain {
            "ent" => return Ok(Expr::Persistent(PersistentScope::Ent, Arc::from(name))),
            "app" => return Ok(Expr::Persistent(PersistentScope::App, Arc::from(name))),
            // positioned: a read outside a call is a runtime error
            "session" => {
                return Ok(Expr::At(
                    Box::new(Expr::Persistent(PersistentScope::Session, Arc::from(name))),
                    span,
                ))
            }
            _ => {}
        }
        if let Some(&i) = self.aliases.get(domain) {
            if !self.builtin_aliases.contains_key(domain) {
                return Ok(Expr::ModuleMember(i, Arc::from(name)));
            }
        }
        if !self.known_domain(domain) {
            self.unknown_domain(domain, span);
        }
        let m = self.member(domain, name).unwrap_or(&NOT_SUPPORTED);
        let call = self.native_call(m, domain, name, &[], &[], true, span)?;
        Ok(Expr::Native(Box::new(call)))
    }

    /// The native member `domain:name` used in an expression.
    fn member(&self, domain: &str, name: &str) -> Option<&'static Member> {
        let module = self.module_of(domain)?;
        self.module_member(module, name)
    }
}

/// The message for `DOMAIN:NAME` in an action position when NAME is no
/// action of the module (one that refuses unknown names): the closest
/// action as a hint, then the list.
fn unknown_action(domain: &str, module: &Module, name: &str) -> String {
    let actions = module.action_names();
    let lower = name.to_ascii_lowercase();
    let hint = actions
        .iter()
        .map(|a| (crate::syntax::words::edit_distance(&lower, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min()
        .map(|(_, a)| format!(" (did you mean `{domain}:{a}`?)"))
        .unwrap_or_default();
    format!(
        "unknown action `{domain}:{name}`{hint}: the {} actions are {}",
        module.domain,
        actions.join(", ")
    )
}

/// The value of a literal expression (`"woman"`, `3`, `-1`, `true`,
/// `null`, a double-quoted string without `#{...}`); `None` for anything
/// computed.
fn literal(e: &ast::Expr) -> Option<crate::runtime::Value> {
    use crate::runtime::Value;
    Some(match &e.kind {
        ExprKind::Null => Value::Null,
        ExprKind::Bool { value } => Value::Bool(*value),
        ExprKind::Number { value } => Value::Number(*value),
        ExprKind::Str { value } => Value::from(value.as_str()),
        ExprKind::Template { parts } => {
            let mut text = String::new();
            for p in parts {
                match p {
                    ast::StrPart::Text { text: t } => text.push_str(t),
                    ast::StrPart::Expr { .. } => return None,
                }
            }
            Value::from(text.as_str())
        }
        ExprKind::Unary {
            op: ast::UnOp::Neg,
            expr,
        } => match &expr.kind {
            ExprKind::Number { value } => Value::Number(-*value),
            _ => return None,
        },
        _ => return None,
    })
}

/// `{"queries": [{"name", "args"}], "events": [{"domain", "name", "attrs"}]}`,
/// as the Pico Engine's compiler makes it: per rule, each event it selects
/// on once, with the attributes its select matches and those the rule
/// reads by a literal name (`read`); an attribute matched in the select
/// also goes to the rule's events listed before it, as there.
fn testing(
    rs: &ast::Ruleset,
    shares: &[Arc<str>],
    read: &std::collections::HashMap<String, Vec<String>>,
) -> Value {
    let s = |t: &str| Value::from(t);
    let mut queries = Vec::new();
    for name in shares.iter().filter(|n| &***n != "__testing") {
        let args: Vec<Value> = rs
            .global
            .iter()
            .find(|d| d.name.name == **name)
            .map(|d| match &d.value.kind {
                ExprKind::Function { params, .. } => {
                    params.iter().map(|p| s(&p.name.name)).collect()
                }
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let mut q = Map::default();
        q.insert(Arc::from("name"), s(name));
        q.insert(Arc::from("args"), Value::from(args));
        queries.push(Value::from(q));
    }
    let mut events = Vec::new();
    for r in rs.rules.iter().filter(|r| r.active) {
        if let Some(ast::Select::When { expr, .. }) = &r.select {
            // (domain, name, attrs) in the order the rule names them
            let mut selected: Vec<(&str, &str, Vec<&str>)> = Vec::new();
            fn add<'a>(all: &mut [(&'a str, &'a str, Vec<&'a str>)], a: &'a str) {
                for ev in all.iter_mut() {
                    if !ev.2.contains(&a) {
                        ev.2.push(a);
                    }
                }
            }
            for e in expr.simple_events() {
                let (d, n) = (e.domain.name.as_str(), e.name.name.as_str());
                if !selected.iter().any(|(sd, sn, _)| *sd == d && *sn == n) {
                    selected.push((d, n, Vec::new()));
                }
                for m in &e.matchers {
                    add(&mut selected, m.attr.name.as_str());
                }
            }
            for a in read.get(&r.name.name).into_iter().flatten() {
                add(&mut selected, a.as_str());
            }
            for (d, n, attrs) in selected {
                let mut m = Map::default();
                m.insert(Arc::from("domain"), s(d));
                m.insert(Arc::from("name"), s(n));
                let attrs: Vec<Value> = attrs.into_iter().map(s).collect();
                m.insert(Arc::from("attrs"), Value::from(attrs));
                events.push(Value::from(m));
            }
        }
    }
    let mut out = Map::default();
    out.insert(Arc::from("queries"), Value::from(queries));
    out.insert(Arc::from("events"), Value::from(events));
    Value::from(out)
}

/// The value of a number literal or arithmetic on number literals
/// (`within 1 + 3 seconds`); `None` for anything else.
fn const_arithmetic(e: &ast::Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Number { value } => Some(*value),
        ExprKind::Unary {
            op: ast::UnOp::Neg,
            expr,
        } => const_arithmetic(expr).map(|n| -n),
        ExprKind::Unary {
            op: ast::UnOp::Pos,
            expr,
        } => const_arithmetic(expr),
        ExprKind::Binary { op, left, right } => {
            let (l, r) = (const_arithmetic(left)?, const_arithmetic(right)?);
            let n = match op {
                ast::BinOp::Add => l + r,
                ast::BinOp::Sub => l - r,
                ast::BinOp::Mul => l * r,
                ast::BinOp::Div => l / r,
                ast::BinOp::Mod => l % r,
                _ => return None,
            };
            n.is_finite().then_some(n)
        }
        _ => None,
    }
}

fn fold_array(items: Vec<Expr>) -> Expr {
    if items.iter().all(|i| matches!(i, Expr::Const(_))) {
        let values = items
            .into_iter()
            .map(|i| match i {
                Expr::Const(v) => v,
                _ => unreachable!("all items are constants"),
            })
            .collect::<Vec<_>>();
        return Expr::Const(Value::from(values));
    }
    Expr::Array(items)
}

fn fold_map(entries: Vec<(Arc<str>, Expr)>) -> Expr {
    if entries.iter().all(|(_, v)| matches!(v, Expr::Const(_))) {
        let map = entries
            .into_iter()
            .map(|(k, v)| match v {
                Expr::Const(v) => (k, v),
                _ => unreachable!("all values are constants"),
            })
            .collect::<Map>();
        return Expr::Const(Value::from(map));
    }
    Expr::Map(entries)
}

impl From<RuntimeError> for (Span, String) {
    fn from(e: RuntimeError) -> (Span, String) {
        (e.span.unwrap_or_default(), e.message)
    }
}
