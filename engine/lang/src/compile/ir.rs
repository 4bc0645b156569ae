//! The compiled form of a ruleset: names resolved to frame slots, library
//! functions to pointers, regexes compiled, event expressions turned into
//! matchers. Built once by `compile`, shared (`Arc`) by every pico that
//! installs the ruleset; the evaluator never looks at source text or names.

use crate::native::{LibraryFn, Member};
use crate::runtime::select::Matcher;
use crate::runtime::Value;
use crate::syntax::ast::{BinOp, Level, PersistentScope, Span, UnOp};
use std::sync::Arc;

/// A variable: `up` frames above the current one, then a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// How many parent links to follow.
    pub up: u16,
    /// Index in that frame.
    pub index: u16,
}

/// A call (or a bare read) of a native module's member, its arguments
/// bound to the member's parameters.
#[derive(Clone, Debug)]
pub struct NativeCall {
    /// The member.
    pub member: &'static Member,
    /// The domain as written (a classic alias, or the module's own).
    pub domain: Arc<str>,
    /// The member name as written (open modules: `keys:NAME`).
    pub name: Arc<str>,
    /// Arguments in parameter order (gaps null).
    pub args: Vec<Expr>,
    /// Named arguments and `with` modifiers that are no parameter.
    pub named: Vec<(Arc<str>, Expr)>,
    /// Read without a call (`event:attrs`, `meta:rid`).
    pub bare: bool,
    /// Where.
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// a constant (literals, folded)
    Const(Value),
    /// a string built from parts
    Template(Vec<Expr>),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{"k": v}`
    Map(Vec<(Arc<str>, Expr)>),
    /// a local or global variable
    Var(Slot, Arc<str>),
    /// a library function used as a value
    Library(&'static Member),
    /// `ent:x` / `app:x`
    Persistent(PersistentScope, Arc<str>),
    /// a used module's member `alias:name`
    ModuleMember(usize, Arc<str>),
    /// a native module member, called or read
    Native(Box<NativeCall>),
    /// `not x`, `-x`, `+x`
    Unary(UnOp, Box<Expr>),
    /// `a OP b` (not `&&`/`||`)
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a && b`
    And(Box<Expr>, Box<Expr>),
    /// `a || b`
    Or(Box<Expr>, Box<Expr>),
    /// `t => a | b`
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// a call of a library function with its arguments bound
    CallLibrary(LibraryFn, Vec<Expr>, Span),
    /// a call of a value (closures, module functions)
    Call(Box<Expr>, Args, Span),
    /// `x{path}`
    Path(Box<Expr>, Box<Expr>),
    /// `x[i]`
    Index(Box<Expr>, Box<Expr>),
    /// a function literal
    Function(Arc<FunctionDef>),
    /// a defaction literal
    Defaction(Arc<DefactionDef>),
    /// wraps a node that may fail with its position
    At(Box<Expr>, Span),
}

/// Call arguments: positional, then named (bound at call time, since the
/// callee is a value).
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// Positional arguments in order.
    pub positional: Vec<Expr>,
    /// Named arguments in order.
    pub named: Vec<(Arc<str>, Expr)>,
}

/// A function literal.
#[derive(Debug)]
pub struct FunctionDef {
    /// For messages.
    pub name: Arc<str>,
    /// Parameter names (slots 0..n of the call frame).
    pub params: Vec<Arc<str>>,
    /// Defaults, evaluated in the call frame when an argument is missing or null.
    pub defaults: Vec<Option<Expr>>,
    /// Size of the call frame (parameters and body declarations).
    pub frame_size: usize,
    /// Body declarations: slot and value, in order.
    pub body: Vec<(u16, Expr)>,
    /// The result.
    pub result: Expr,
}

/// A defaction literal.
#[derive(Debug)]
pub struct DefactionDef {
    /// For messages.
    pub name: Arc<str>,
    /// Parameter names.
    pub params: Vec<Arc<str>>,
    /// Defaults.
    pub defaults: Vec<Option<Expr>>,
    /// Size of the call frame.
    pub frame_size: usize,
    /// Body declarations.
    pub body: Vec<(u16, Expr)>,
    /// The actions.
    pub actions: ActionBlock,
    /// The `return` value.
    pub result: Option<Expr>,
}

/// What runs the actions of a block.
#[derive(Clone, Debug)]
pub enum BlockKind {
    /// all, in order
    Every,
    /// one at random
    Sample,
    /// the one whose label equals the value
    Choose(Expr),
}

/// An action block.
#[derive(Clone, Debug)]
pub struct ActionBlock {
    /// `if C then`
    pub condition: Option<Expr>,
    /// every/sample/choose
    pub kind: BlockKind,
    /// The actions.
    pub actions: Vec<Action>,
}

/// What an action invokes.
#[derive(Clone, Debug)]
pub enum ActionTarget {
    /// a defaction or action value in scope
    Value(Expr),
    /// a native action (`send_directive`, `twilio:say`, ...), its arguments
    /// bound
    Native(Box<NativeCall>),
    /// a used module's defaction `alias:name(...)`
    ModuleMember(usize, Arc<str>),
}

/// One action.
#[derive(Clone, Debug)]
pub struct Action {
    /// Label (choose).
    pub label: Option<Arc<str>>,
    /// What it invokes.
    pub target: ActionTarget,
    /// Arguments (classic `with` modifiers appended as named arguments).
    pub args: Args,
    /// `setting(x)` slot.
    pub setting: Option<u16>,
    /// Where.
    pub span: Span,
}

/// A postlude statement.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `name = expr`
    Decl(u16, Expr),
    /// `ent:x{path} := value` (value None: clear)
    Assign {
        /// ent or app
        scope: PersistentScope,
        /// variable name
        name: Arc<str>,
        /// path inside
        path: Option<Expr>,
        /// the value; `None` clears
        value: Option<Expr>,
    },
    /// classic `ent:x += n from m`
    Increment {
        /// ent or app
        scope: PersistentScope,
        /// variable name
        name: Arc<str>,
        /// `-=`?
        subtract: bool,
        /// step
        by: Expr,
        /// initial
        from: Expr,
    },
    /// `raise ...`
    Raise {
        /// the bare domain, or None for `raise event "d:t"`
        domain: Option<Arc<str>>,
        /// type (or "d:t")
        event_type: Expr,
        /// `for rid`
        for_rid: Option<Expr>,
        /// attributes
        attributes: Option<Expr>,
    },
    /// `schedule ...`
    Schedule {
        /// domain
        domain: Option<Arc<str>>,
        /// type
        event_type: Expr,
        /// `at` time or `repeat` cron
        at: Option<Expr>,
        /// cron
        repeat: Option<Expr>,
        /// attributes
        attributes: Option<Expr>,
        /// `setting(id)` slot
        setting: Option<u16>,
    },
    /// `log LEVEL expr`
    Log(Level, Expr),
    /// `error LEVEL expr`
    Error(Level, Expr),
    /// `last`
    Last,
}

/// A guarded statement.
#[derive(Clone, Debug)]
pub struct Guarded {
    /// The statement.
    pub stmt: Stmt,
    /// `if C`
    pub guard_if: Option<Expr>,
    /// `on final`
    pub on_final: bool,
    /// Where.
    pub span: Span,
}

/// When a postlude block runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// if the rule fired
    Fired,
    /// if it did not
    NotFired,
    /// always
    Always,
}

/// How a rule is selected.
pub enum Selector {
    /// `select when`: a state machine; `wheres` are its `where` clauses,
    /// evaluated in a frame of the rule's setting variables.
    When {
        /// the machine
        matcher: Matcher,
        /// where clauses by index
        wheres: Vec<Expr>,
    },
    /// `select where EXPR`: salient for every event
    Where(Expr),
    /// classic pageview rules: never selected
    Never,
}

/// A compiled rule.
pub struct Rule {
    /// Its name.
    pub name: Arc<str>,
    /// Selection.
    pub select: Selector,
    /// Slots of the setting/aggregator variables in the rule frame, by name.
    pub setting_slots: Vec<(Arc<str>, u16)>,
    /// foreach clauses: collection and the slots of value/key.
    pub foreach: Vec<(Expr, Vec<u16>)>,
    /// Size of the rule frame.
    pub frame_size: usize,
    /// `pre` declarations.
    pub pre: Vec<(u16, Expr)>,
    /// The action block.
    pub actions: Option<ActionBlock>,
    /// Postlude blocks, in the order they run.
    pub postlude: Vec<(When, Vec<Guarded>)>,
    /// Where the rule is.
    pub span: Span,
}
