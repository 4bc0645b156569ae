//! The typed AST of a KRL ruleset. Built once from the pest pairs by
//! `parser`; nothing downstream sees pest types. Every node carries the byte
//! [`Span`] of the source it came from; line and column are computed only
//! when an error is reported (`LineIndex`).
//!
//! Classic constructs are lowered to their modern reading here where that
//! is purely syntactic (a bare action block is `every`, `set ent:x v` is an
//! assignment, `with` on `raise` is an attribute map...), and kept as
//! their own nodes where a later phase must know (`with` modifiers on
//! actions, `keys`, web events).

use serde::Serialize;

/// A byte range `start..end` in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// An identifier with its position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A whole ruleset: `ruleset RID { meta {...} global {...} rule ... }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ruleset {
    /// The ruleset id, e.g. `io.picolabs.hello_world`.
    pub rid: Ident,
    /// Meta properties in source order.
    pub meta: Vec<MetaProp>,
    /// Global declarations in source order.
    pub global: Vec<Decl>,
    /// Rules in source order (inactive ones included, marked).
    pub rules: Vec<Rule>,
    /// Classic constructs that were accepted and ignored, for warnings.
    pub ignored: Vec<Ignored>,
    /// The whole ruleset.
    pub span: Span,
}

/// A classic construct that is parsed and ignored (docs/spec/krl-language.md 10).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ignored {
    /// What it was, e.g. `dispatch` or `logging`.
    pub what: String,
    /// Where.
    pub span: Span,
}

/// One meta property.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetaProp {
    /// What it says.
    #[serde(flatten)]
    pub kind: MetaKind,
    /// Where.
    pub span: Span,
}

/// The meta properties of docs/spec/krl-language.md 3.3 and 10.4.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum MetaKind {
    /// `name <expr>`
    Name {
        /// The value.
        value: Expr,
    },
    /// `description <expr>`
    Description {
        /// The value.
        value: Expr,
    },
    /// `author <expr>`
    Author {
        /// The value.
        value: Expr,
    },
    /// `version <expr>`
    Version {
        /// The value.
        value: Expr,
    },
    /// `logging on|off` (ignored)
    Logging {
        /// `on`?
        on: bool,
    },
    /// `shares a, b`
    Shares {
        /// The shared names.
        names: Vec<Ident>,
    },
    /// `provides a, b`
    Provides {
        /// The provided names.
        names: Vec<Ident>,
    },
    /// classic `provides keys a, b to rid1, rid2`
    ProvidesKeys {
        /// The key names.
        keys: Vec<Ident>,
        /// The rulesets allowed to read them.
        to: Vec<Ident>,
    },
    /// `configure using a = 1 b = 2`
    Configure {
        /// Parameters with their defaults.
        decls: Vec<Decl>,
    },
    /// `use module RID [version v] [alias A] [with a = e and ...]`
    Use {
        /// The module's rid.
        rid: Ident,
        /// Classic version (ignored).
        version: Option<Expr>,
        /// The alias, if any.
        alias: Option<Ident>,
        /// Configuration overrides.
        with: Vec<Decl>,
    },
    /// classic `key NAME <expr>`
    Key {
        /// The key's name.
        name: Ident,
        /// Its value (a string or a map).
        value: Expr,
    },
    /// classic `errors to RID`
    ErrorsTo {
        /// The ruleset that receives the errors.
        rid: Ident,
    },
}

/// `name = value`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decl {
    /// The declared name.
    pub name: Ident,
    /// The value.
    pub value: Expr,
    /// The whole declaration.
    pub span: Span,
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// Its name, unique in the ruleset.
    pub name: Ident,
    /// `false` for `is inactive`.
    pub active: bool,
    /// `select when` / `select where`; `None` only on an invalid rule.
    pub select: Option<Select>,
    /// `foreach` clauses, outermost first.
    pub foreach: Vec<Foreach>,
    /// `pre { ... }` declarations.
    pub pre: Vec<Decl>,
    /// The action block.
    pub actions: Option<ActionBlock>,
    /// The postlude.
    pub postlude: Option<Postlude>,
    /// The whole rule.
    pub span: Span,
}

/// How a rule is selected.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)] // one per rule; never moved on a hot path
pub enum Select {
    /// `select when EVENTEXP [within N UNIT]`
    When {
        /// The event expression.
        expr: EventExpr,
        /// The time limit.
        within: Option<Within>,
    },
    /// `select where EXPR`
    Where {
        /// The condition.
        expr: Expr,
    },
    /// classic `select using "re" setting(...)`: a pageview rule, never matches.
    Using {
        /// The pattern.
        pattern: Expr,
        /// Setting names.
        setting: Vec<Ident>,
    },
}

/// `within EXPR UNIT`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Within {
    /// How many units.
    pub amount: Expr,
    /// The unit in milliseconds (a month is 30 days, a year 365).
    pub unit_ms: u64,
    /// The unit as written.
    pub unit: String,
    /// Where.
    pub span: Span,
}

/// An event expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventExpr {
    /// What kind.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Where.
    pub span: Span,
}

impl EventExpr {
    /// Its simple event expressions in source order (`a between(b, c)`
    /// gives a, b, c). The `where` clauses are numbered in this order.
    pub fn simple_events(&self) -> Vec<&SimpleEvent> {
        fn walk<'a>(e: &'a EventExpr, out: &mut Vec<&'a SimpleEvent>) {
            match &e.kind {
                EventKind::Simple(s) => out.push(s),
                EventKind::Op { args, .. } | EventKind::Any { args, .. } => {
                    args.iter().for_each(|a| walk(a, out))
                }
                EventKind::Between {
                    middle,
                    first,
                    last,
                    ..
                } => {
                    walk(middle, out);
                    walk(first, out);
                    walk(last, out);
                }
                EventKind::Aggregate { inner, .. } => walk(inner, out),
                EventKind::Web { .. } => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// The binary event operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `before`
    Before,
    /// `then`
    Then,
    /// `after`
    After,
}

/// Aggregating event operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateKind {
    /// `count N (...)`
    Count,
    /// `repeat N (...)`
    Repeat,
}

/// Kinds of event expressions (docs/spec/krl-language.md 5.1).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// `domain type attr re#..# setting(a) where cond`
    Simple(SimpleEvent),
    /// `a OP b`, or the group form `OP(a, b, c)` (then `args` has every operand)
    Op {
        /// The operator.
        op: EventOp,
        /// Two or more operands, left to right.
        args: Vec<EventExpr>,
    },
    /// `middle between(first, last)` / `middle not between(first, last)`
    Between {
        /// `not between`?
        negated: bool,
        /// The event that must (not) happen in between.
        middle: Box<EventExpr>,
        /// The opening event.
        first: Box<EventExpr>,
        /// The closing event.
        last: Box<EventExpr>,
    },
    /// `any N (a, b, ...)`
    Any {
        /// How many distinct arguments must complete.
        n: u32,
        /// The arguments.
        args: Vec<EventExpr>,
    },
    /// `count N (a) max(x)` / `repeat N (a) push(x)`
    Aggregate {
        /// `count` or `repeat`.
        kind: AggregateKind,
        /// How many.
        n: u32,
        /// The inner expression.
        inner: Box<EventExpr>,
        /// The aggregator, if any.
        aggregator: Option<Aggregator>,
    },
    /// classic browser events (`pageview "re"`, `web click "#id"`): never match.
    Web {
        /// `pageview` or `web NAME`.
        what: String,
        /// Setting names.
        setting: Vec<Ident>,
    },
}

/// `max(a)`, `min`, `sum`, `avg`, `push(a, b)`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregator {
    /// `max`, `min`, `sum`, `avg` or `push`.
    pub op: String,
    /// Variable names, bound to the captures by position.
    pub names: Vec<Ident>,
    /// Where.
    pub span: Span,
}

/// A simple event expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimpleEvent {
    /// The event domain.
    pub domain: Ident,
    /// The event type.
    pub name: Ident,
    /// Attribute matchers in order.
    pub matchers: Vec<AttrMatch>,
    /// `setting(a, b)` names.
    pub setting: Vec<Ident>,
    /// `where EXPR`
    pub condition: Option<Expr>,
}

/// `attr re#pattern#flags`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttrMatch {
    /// The attribute name.
    pub attr: Ident,
    /// The pattern source (ECMAScript syntax).
    pub pattern: String,
    /// Flags (`g`, `i`, `m`).
    pub flags: String,
    /// Where.
    pub span: Span,
}

/// `foreach EXPR setting(v [, k])`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Foreach {
    /// The collection.
    pub expr: Expr,
    /// The value name, key name and any extra names.
    pub setting: Vec<Ident>,
    /// Where.
    pub span: Span,
}

/// How the actions of a block are run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum BlockKind {
    /// every action in order (`every {}`, a single action, a classic bare block)
    Every,
    /// one at random
    Sample,
    /// the one whose label equals the value
    Choose {
        /// The value compared with the labels.
        expr: Expr,
    },
}

/// `[if C then] every|sample|choose E { ... }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionBlock {
    /// The condition.
    pub condition: Option<Expr>,
    /// How to run the actions.
    pub kind: BlockKind,
    /// The actions.
    pub actions: Vec<Action>,
    /// Where.
    pub span: Span,
}

/// `[label =>] [domain:]name(args) [setting(x)] [with a = e and ...]`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Action {
    /// The label (choose).
    pub label: Option<Ident>,
    /// The module domain (`twilio` in `twilio:say`).
    pub domain: Option<Ident>,
    /// The action's name.
    pub name: Ident,
    /// Arguments.
    pub args: Vec<Arg>,
    /// Classic `with` modifiers, in order.
    pub modifiers: Vec<Decl>,
    /// `setting(x)` names (more than one is a check error).
    pub setting: Vec<Ident>,
    /// Where.
    pub span: Span,
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    /// The name of a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// Where.
    pub span: Span,
}

/// The postlude of a rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Postlude {
    /// `fired`, `notfired` or `always`.
    pub kind: PostludeKind,
    /// The first block.
    pub body: Vec<Stmt>,
    /// `else { }`
    pub else_body: Option<Vec<Stmt>>,
    /// `finally { }`
    pub finally_body: Option<Vec<Stmt>>,
    /// Where.
    pub span: Span,
}

/// Which postlude form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostludeKind {
    /// `fired { }` runs when the rule fired
    Fired,
    /// `notfired { }` runs when it did not
    NotFired,
    /// `always { }` runs in both cases
    Always,
}

/// A postlude statement with its optional guard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stmt {
    /// What it does.
    #[serde(flatten)]
    pub kind: StmtKind,
    /// `if C` / `on final`
    pub guard: Option<Guard>,
    /// Where.
    pub span: Span,
}

/// A statement guard.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Guard {
    /// `if EXPR`
    If {
        /// The condition.
        expr: Expr,
    },
    /// `on final`
    OnFinal,
}

/// A persistent variable reference: `ent:x`, `app:x{path}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Persistent {
    /// `ent`, `app` or `session` (other domains are rejected by the parser).
    pub scope: PersistentScope,
    /// The variable name.
    pub name: Ident,
    /// A path inside the value.
    pub path: Option<Box<Expr>>,
    /// Where.
    pub span: Span,
}

/// Where a persistent variable lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersistentScope {
    /// one ruleset on one pico
    Ent,
    /// one ruleset on the whole engine
    App,
    /// one ruleset on one pico for one phone call: keyed by the event's
    /// `CallSid` (docs/twilio.md, call sessions)
    Session,
}

/// Log levels of `log` and `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// error
    Error,
    /// warn
    Warn,
    /// info
    Info,
    /// debug
    Debug,
}

/// When a scheduled event fires.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ScheduleWhen {
    /// `at TIME`
    At {
        /// ms since the epoch or an ISO date
        expr: Expr,
    },
    /// `repeat CRON`
    Repeat {
        /// the cron spec
        expr: Expr,
    },
}

/// The event named by `raise`/`schedule`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRef {
    /// The bare-word domain, or `None` for `raise event "domain:type"`.
    pub domain: Option<Ident>,
    /// The type expression (or the `"domain:type"` expression).
    pub event_type: Expr,
    /// Attributes (`attributes A`, or classic `with` turned into a map).
    pub attributes: Option<Expr>,
}

/// Postlude statements (docs/spec/krl-language.md 6.5, 10.6).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum StmtKind {
    /// `name = expr`
    Decl(Decl),
    /// `ent:x{path} := expr` (classic `set ent:x expr`)
    Assign {
        /// The target.
        target: Persistent,
        /// The value.
        value: Expr,
    },
    /// classic `ent:x += n from m` / `-=`
    Increment {
        /// The target.
        target: Persistent,
        /// `true` for `-=`.
        subtract: bool,
        /// The step.
        by: Expr,
        /// The initial value when unset.
        from: Expr,
    },
    /// `clear ent:x{path}`
    Clear {
        /// The target.
        target: Persistent,
    },
    /// `raise D event T [for R] [attributes A]`
    Raise {
        /// The event.
        event: EventRef,
        /// `for RID`
        for_rid: Option<Expr>,
    },
    /// `schedule D event T at|repeat X [attributes A] [setting(id)]`
    Schedule {
        /// The event.
        event: EventRef,
        /// When.
        when: ScheduleWhen,
        /// `setting(id)`
        setting: Option<Ident>,
    },
    /// `log LEVEL expr`
    Log {
        /// The level.
        level: Level,
        /// The message.
        expr: Expr,
    },
    /// `error LEVEL expr`
    Error {
        /// The level.
        level: Level,
        /// The error data.
        expr: Expr,
    },
    /// `last`
    Last,
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    /// What kind.
    #[serde(flatten)]
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Infix operators (docs/spec/krl-language.md 4.1, 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<=>`
    Cmp3,
    /// `cmp`
    Cmp,
    /// `like`
    Like,
    /// `><`
    In,
    /// classic `eq` (string equality)
    StrEq,
    /// classic `neq`
    StrNe,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl BinOp {
    /// Binding power (higher binds tighter), from the reference parser.
    pub fn power(self) -> u8 {
        use BinOp::*;
        match self {
            Or => 20,
            And => 30,
            Eq | Ne | Lt | Le | Gt | Ge | Cmp3 | Cmp | Like | In | StrEq | StrNe => 40,
            Add | Sub => 50,
            Mul | Div | Mod => 60,
        }
    }
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnOp {
    /// `not`
    Not,
    /// `-`
    Neg,
    /// `+`
    Pos,
}

/// A piece of an interpolated string.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum StrPart {
    /// literal text (escapes already decoded)
    Text {
        /// The text.
        text: String,
    },
    /// `#{ expr }`
    Expr {
        /// The expression.
        expr: Expr,
    },
}

/// A function or defaction parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    /// The name.
    pub name: Ident,
    /// The default, evaluated at call time.
    pub default: Option<Expr>,
    /// Where.
    pub span: Span,
}

/// Expression kinds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ExprKind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool {
        /// The value.
        value: bool,
    },
    /// a number literal
    Number {
        /// The value.
        value: f64,
    },
    /// a string without interpolation
    Str {
        /// The decoded text.
        value: String,
    },
    /// a chevron, or a string with `#{}`
    Template {
        /// Text and expressions in order.
        parts: Vec<StrPart>,
    },
    /// `re#pattern#flags`
    Regex {
        /// The ECMAScript pattern.
        pattern: String,
        /// `g`, `i`, `m`.
        flags: String,
    },
    /// `[a, b]`
    Array {
        /// The items.
        items: Vec<Expr>,
    },
    /// `{"k": v}`
    Map {
        /// Entries in order.
        entries: Vec<(String, Expr)>,
    },
    /// a variable
    Ident {
        /// The name.
        name: String,
    },
    /// `domain:name` (ent:x, event:attrs, time:now, alias:fn)
    Domain {
        /// The domain.
        domain: String,
        /// The name.
        name: String,
    },
    /// `not x`, `-x`, `+x`
    Unary {
        /// The operator.
        op: UnOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a OP b`
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `test => a | b`
    Cond {
        /// The test.
        test: Box<Expr>,
        /// When truthy.
        then: Box<Expr>,
        /// Otherwise.
        otherwise: Box<Expr>,
    },
    /// `f(args)`
    Call {
        /// What is called.
        callee: Box<Expr>,
        /// Arguments.
        args: Vec<Arg>,
    },
    /// `recv.name(args)` / `recv.alias:name(args)`
    Method {
        /// The receiver (first argument).
        receiver: Box<Expr>,
        /// `alias` in `recv.alias:name()`.
        domain: Option<String>,
        /// The function's name.
        name: Ident,
        /// The other arguments.
        args: Vec<Arg>,
    },
    /// `x{path}`
    Path {
        /// The value.
        target: Box<Expr>,
        /// A key or an array of keys.
        path: Box<Expr>,
    },
    /// `x[index]`
    Index {
        /// The value.
        target: Box<Expr>,
        /// One key.
        index: Box<Expr>,
    },
    /// deprecated `x.name`
    Property {
        /// The value.
        target: Box<Expr>,
        /// The key.
        name: Ident,
    },
    /// `function(params) { decls; expr }`
    Function {
        /// Parameters.
        params: Vec<Param>,
        /// Body declarations.
        body: Vec<Decl>,
        /// The result.
        result: Box<Expr>,
    },
    /// `defaction(params) { decls; actions; return expr }`
    Defaction {
        /// Parameters (classic `configure using` names appended).
        params: Vec<Param>,
        /// Body declarations.
        body: Vec<Decl>,
        /// The actions.
        actions: Box<ActionBlock>,
        /// The `return` value.
        result: Option<Box<Expr>>,
    },
}
