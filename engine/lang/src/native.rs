//! The native-module registry's types: what a built-in module is, as data.
//!
//! A [`Module`] is a domain (`time`, `twilio`, ...) with its [`Member`]s —
//! functions, actions and properties, each with its parameter names, the
//! literal checks it wants at registration and a one-line doc — and its
//! hooks (run after every event, classic rids that name it, the event
//! attributes a `where` clause may name bare). The library functions
//! (`lc`, `map`, ...) are the members of the module with the empty domain.
//!
//! The checker's names, the compiler's member resolution and the
//! evaluator's dispatch all read one [`Registry`]; the concrete modules
//! live in [`crate::modules`], which assembles the default registry. This
//! file names no concrete module: adding a member is a change in that
//! module's file only.

use crate::host::{Directive, Event, Host};
pub use crate::runtime::Env;
use crate::runtime::{Context, Map, RuntimeError, Value};
use crate::syntax::ast::Span;
use std::collections::HashMap;
use std::sync::Arc;

/// A library function: the evaluator's context (callbacks, `klog`) and the
/// supplied arguments, receiver first (see [`crate::runtime::stdlib`]).
pub type LibraryFn = fn(&mut dyn Context, &[Value]) -> Result<Value, RuntimeError>;

/// A pure module function: the supplied arguments (named ones bound to
/// their positions, gaps null) and the clock and randomness.
pub type PureFn = fn(&[Value], &mut Env) -> Result<Value, RuntimeError>;

/// A native member that reads the evaluation (event, meta, keys, host).
pub type NativeFn = fn(&mut dyn NativeCx, &NativeArgs) -> Result<Value, RuntimeError>;

/// Literal checks of one call, run at registration: the problems found,
/// each with its span.
pub type CheckFn = fn(&CheckCall) -> Vec<(Span, String)>;

/// Run after each event by the pico runtime (e.g. the end of a phone
/// call's session): the event and the host.
pub type AfterEventFn = fn(&Event, &mut dyn Host) -> Result<(), RuntimeError>;

/// What a member is and how it runs.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A library function (the empty domain).
    Library(LibraryFn),
    /// A pure function of its arguments, the clock and randomness.
    Function(PureFn),
    /// A value read without a call (`math:hashAlgorithms`).
    Property(fn() -> Value),
    /// A function that reads the evaluation (`event:attr`, `meta:rid`).
    Native(NativeFn),
    /// An action: only in action positions (`twilio:say`).
    Action(NativeFn),
    /// Usable as a function and as an action (`http:get`).
    Both(NativeFn),
    /// A library function that is also a no-op action whose arguments
    /// are not evaluated (`noop`, classic `append`).
    LibraryAndNoOp(LibraryFn),
    /// An action that does nothing, its arguments not evaluated (the
    /// classic browser actions).
    NoOp,
}

/// One member of a module.
pub struct Member {
    /// Its name after the colon (`"strftime"`).
    pub name: &'static str,
    /// Parameter names, for named arguments (in order).
    pub params: &'static [&'static str],
    /// Function, property or action, and its code.
    pub kind: Kind,
    /// Checks of its literal arguments at registration (calls in
    /// expressions and in action positions alike).
    pub check: Option<CheckFn>,
    /// What reading it without a call runs, when not the member itself
    /// with no arguments (classic `event:attr` read bare is `event:attrs`).
    pub bare: Option<NativeFn>,
    /// One line for hover and docs.
    pub doc: &'static str,
}

fn null_property() -> Value {
    Value::Null
}

impl Member {
    /// A blank member for struct-update syntax (`..Member::BLANK`).
    pub const BLANK: Member = Member {
        name: "",
        params: &[],
        kind: Kind::Property(null_property),
        check: None,
        bare: None,
        doc: "",
    };

    /// An action.
    pub const fn action(name: &'static str, params: &'static [&'static str], f: NativeFn) -> Self {
        Member {
            name,
            params,
            kind: Kind::Action(f),
            ..Member::BLANK
        }
    }

    /// A function that reads the evaluation.
    pub const fn native(name: &'static str, params: &'static [&'static str], f: NativeFn) -> Self {
        Member {
            name,
            params,
            kind: Kind::Native(f),
            ..Member::BLANK
        }
    }

    /// Can it run in an action position?
    pub fn is_action(&self) -> bool {
        matches!(
            self.kind,
            Kind::Action(_) | Kind::Both(_) | Kind::LibraryAndNoOp(_) | Kind::NoOp
        )
    }

    /// Can it run in an expression?
    pub fn is_function(&self) -> bool {
        !matches!(self.kind, Kind::Action(_) | Kind::NoOp)
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Member({})", self.name)
    }
}

/// The error of a member this engine knows by name but does not run.
pub fn not_supported(domain: &str, name: &str) -> RuntimeError {
    RuntimeError::new(format!("not supported: {domain}:{name}"))
}

/// The member every unknown name of a [`Unknown::NotSupported`] module
/// (and of an unknown domain) compiles to: a runtime "not supported".
pub static NOT_SUPPORTED: Member = Member {
    name: "",
    kind: Kind::Both(|_, a| Err(not_supported(a.domain, a.name))),
    ..Member::BLANK
};

/// What an action used as a function (or a function used as an action)
/// compiles to where the checks only warn (inside a function body): a
/// runtime error when it runs.
pub static MISUSED: Member = Member {
    name: "",
    kind: Kind::Both(|_, a| {
        let colon = if a.domain.is_empty() { "" } else { ":" };
        Err(RuntimeError::new(format!(
            "`{}{colon}{}` cannot run here: an action is not a function, nor a function an action",
            a.domain, a.name
        )))
    }),
    ..Member::BLANK
};

/// What a module does with a member name it does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// A registration error (`twilio:sya`, with a did-you-mean hint).
    Refused,
    /// Compiled to a runtime "not supported" (modules known by name whose
    /// members this engine does not implement, e.g. `ursa:`).
    NotSupported,
    /// Handled by [`Module::open`] with the name as written (`keys:NAME`).
    Open,
}

/// A native module.
pub struct Module {
    /// The domain, as in `time:now`; empty for the library functions.
    pub domain: &'static str,
    /// One line for hover and docs.
    pub doc: &'static str,
    /// Its members.
    pub members: &'static [Member],
    /// What an unknown member name is.
    pub unknown: Unknown,
    /// For [`Unknown::Open`]: runs every other name (given in
    /// [`NativeArgs::name`]).
    pub open: Option<&'static Member>,
    /// Classic rids that name this module in `use module RID alias A with
    /// ...` (the Kynetx Twilio library `a8x115`); the `with` options are
    /// evaluated at install and read by [`NativeCx::module_config`].
    pub classic_rids: &'static [&'static str],
    /// Events of this domain whose attributes a `where` clause may name
    /// bare: (event type, attribute names).
    pub where_attrs: &'static [(&'static str, &'static [&'static str])],
    /// Run after each event that ran without error.
    pub after_event: Option<AfterEventFn>,
}

impl Module {
    /// A blank module for struct-update syntax.
    pub const BLANK: Module = Module {
        domain: "",
        doc: "",
        members: &[],
        unknown: Unknown::NotSupported,
        open: None,
        classic_rids: &[],
        where_attrs: &[],
        after_event: None,
    };

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The names of its actions, in table order.
    pub fn action_names(&self) -> Vec<&'static str> {
        self.members
            .iter()
            .filter(|m| m.is_action())
            .map(|m| m.name)
            .collect()
    }
}

/// Every native module, looked up by domain.
pub struct Registry {
    modules: Vec<&'static Module>,
    /// The modules that have an after-event hook (most have none: the
    /// event loop walks only these).
    hooked: Vec<&'static Module>,
    by_domain: HashMap<&'static str, &'static Module>,
    library: HashMap<&'static str, &'static Member>,
}

impl Registry {
    /// A registry of `modules` (the library is the one with the empty
    /// domain). A later module with the same domain replaces an earlier.
    pub fn new(modules: Vec<&'static Module>) -> Registry {
        let mut by_domain = HashMap::new();
        let mut library = HashMap::new();
        for m in &modules {
            by_domain.insert(m.domain, *m);
            if m.domain.is_empty() {
                for f in m.members {
                    library.insert(f.name, f);
                }
            }
        }
        let hooked = modules
            .iter()
            .copied()
            .filter(|m| m.after_event.is_some())
            .collect();
        Registry {
            modules,
            hooked,
            by_domain,
            library,
        }
    }

    /// The module of `domain` (not the library).
    pub fn module(&self, domain: &str) -> Option<&'static Module> {
        if domain.is_empty() {
            return None;
        }
        self.by_domain.get(domain).copied()
    }

    /// A library function or action called by its bare name.
    pub fn library(&self, name: &str) -> Option<&'static Member> {
        self.library.get(name).copied()
    }

    /// The module a classic `use module RID` names.
    pub fn classic(&self, rid: &str) -> Option<&'static Module> {
        self.modules
            .iter()
            .find(|m| m.classic_rids.contains(&rid))
            .copied()
    }

    /// The modules with an after-event hook.
    pub fn hooked(&self) -> &[&'static Module] {
        &self.hooked
    }

    /// Every module, the library first.
    pub fn modules(&self) -> &[&'static Module] {
        &self.modules
    }

    /// The attributes the `where` clause of `select when DOMAIN TYPE` may
    /// name bare.
    pub fn where_attrs(&self, domain: &str, event_type: &str) -> &'static [&'static str] {
        self.module(domain)
            .and_then(|m| m.where_attrs.iter().find(|(t, _)| *t == event_type))
            .map_or(&[], |(_, a)| a)
    }
}

/// The arguments of a native call.
pub struct NativeArgs<'a> {
    /// Supplied arguments in parameter order (named ones bound to their
    /// positions, gaps null); its length is the number supplied.
    pub args: &'a [Value],
    /// Named arguments (and classic `with` modifiers) that are none of the
    /// parameters, in order.
    pub named: &'a Map,
    /// The member name as written (for [`Unknown::Open`] modules).
    pub name: &'a str,
    /// The domain as written (a classic alias of the module, or its own).
    pub domain: &'a str,
    /// Where the call is.
    pub span: Span,
    /// Whether the caller uses the value: false for an action without
    /// `setting(...)`, whose value is dropped (an action may then skip
    /// building it).
    pub wanted: bool,
}

impl NativeArgs<'_> {
    /// Argument `i`, or null when not supplied.
    pub fn arg(&self, i: usize) -> Value {
        self.args.get(i).cloned().unwrap_or(Value::Null)
    }
}

/// The arguments of one call as the checker sees them: literal values
/// where the source has literals.
pub struct CheckCall<'a> {
    /// The domain as written.
    pub domain: &'a str,
    /// The member called.
    pub member: &'static Member,
    /// Positional arguments: span and literal value.
    pub positional: Vec<(Span, Option<Value>)>,
    /// Named arguments and `with` modifiers: name, its span, the value's
    /// span and literal value.
    pub named: Vec<(&'a str, Span, Span, Option<Value>)>,
}

/// A change of the pico's installed rulesets asked for by a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum PicoChange {
    /// Install (or install again, with a new configuration) `rid`, as
    /// registered, recording the URL it came from.
    Install {
        /// The ruleset.
        rid: String,
        /// Its configuration.
        config: Value,
        /// The URL it was installed from.
        url: Option<String>,
    },
    /// Uninstall `rid` (refused while another installed ruleset uses it as
    /// a module).
    Uninstall {
        /// The ruleset.
        rid: String,
    },
}

/// What a native member can see of the evaluation it runs in.
pub trait NativeCx: Context {
    /// The event being processed (`None` in queries and at install).
    fn event(&self) -> Option<&Arc<Event>>;
    /// The ruleset running.
    fn rid(&self) -> Arc<str>;
    /// The rule running, when in one.
    fn rule_name(&self) -> Option<Arc<str>>;
    /// The pico.
    fn pico_id(&self) -> Arc<str>;
    /// The evaluation's id.
    fn txn_id(&self) -> Arc<str>;
    /// Is this a query (not an event)?
    fn in_query(&self) -> bool;
    /// The install configuration (`meta:rulesetConfig`).
    fn config(&self) -> Value;
    /// A meta string of the ruleset (`name`, `description`, `author`,
    /// `version`), null when it has none.
    fn meta_string(&self, key: &str) -> Value;
    /// The ruleset's classic keys.
    fn keys(&self) -> &Map;
    /// The options of a classic `use module RID ... with` naming the module
    /// of `domain`.
    fn module_config(&self, domain: &str) -> Option<&Map>;
    /// The host.
    fn host(&mut self) -> &mut dyn Host;
    /// Adds a directive to the event's response.
    fn directive(&mut self, d: Directive);
    /// Raises an event (to every ruleset of the pico).
    fn raise(&mut self, domain: &str, name: &str, attrs: Map) -> Result<(), RuntimeError>;
    /// Raises an event for one ruleset (`ctx:raiseEvent(..., forRid)`).
    fn raise_for(
        &mut self,
        domain: &str,
        name: &str,
        attrs: Map,
        rid: &str,
    ) -> Result<(), RuntimeError>;
    /// Asks for a change of the pico's installed rulesets (`ctx:install`,
    /// `ctx:uninstall`), made once the running rule's actions are done,
    /// before the events it raised are scheduled; an error in this event
    /// takes it back.
    fn change(&mut self, change: PicoChange, span: Span);
    /// 1-based line and column of a span in the running ruleset.
    fn line_col(&self, span: Span) -> (usize, usize);
}
