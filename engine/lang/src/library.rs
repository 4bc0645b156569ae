//! Names the checker needs to know before the runtime exists: library
//! functions, built-in actions and the built-in module domains (with the
//! members of each that are actions). The runtime's registry must agree
//! with these tables; `krl-stdlib.md` is the contract for both.

/// Library functions usable as `f(x)` or `x.f()` (krl-stdlib.md 2-7).
pub const FUNCTIONS: &[&str] = &[
    // values, types and debugging
    "as",
    "isnull",
    "typeof",
    "klog",
    "defaultsTo",
    "sprintf",
    "encode",
    "decode",
    // numbers
    "chr",
    "range",
    "shiftLeft",
    "shiftRight",
    "band",
    "bor",
    "bxor",
    "bnot",
    // strings
    "lc",
    "uc",
    "capitalize",
    "trim",
    "trimLeading",
    "trimTrailing",
    "startsWith",
    "endsWith",
    "contains",
    "ord",
    "substr",
    "split",
    "replace",
    "match",
    "extract",
    // collections
    "length",
    "isEmpty",
    "get",
    "head",
    "tail",
    "index",
    "keys",
    "values",
    "append",
    "put",
    "set",
    "delete",
    "map",
    "filter",
    "collect",
    "all",
    "any",
    "none",
    "notall",
    "reduce",
    "pairwise",
    "sort",
    "reverse",
    "slice",
    "splice",
    "join",
    "union",
    "intersection",
    "difference",
    "has",
    "unique",
    "once",
    "duplicates",
    // classic
    "pick",
    // action-functions
    "noop",
];

/// Built-in actions callable without a domain (krl-stdlib.md 6), plus the
/// classic browser actions, which are accepted as no-ops (language 10.5).
pub const ACTIONS: &[&str] = &[
    "send_directive",
    "noop",
    // classic browser actions: no-ops
    "notify",
    "alert",
    "replace_html",
    "replace_inner",
    "annotate_search_results",
    "annotate_local_search_results",
    "percolate",
    "float_html",
    "popup",
    "append",
    "prepend",
    "emit",
];

/// A built-in module domain and the members of it that are actions (only
/// usable in action positions). Empty for `ent`/`app`/`session`/`keys`, whose
/// members are user-defined names.
pub struct Module {
    /// The domain, as in `time:now`.
    pub domain: &'static str,
    /// Members that are actions.
    pub actions: &'static [&'static str],
}

/// The built-in modules (krl-stdlib.md 8, language 10.9 and the engine's
/// own `mqtt:`). `ursa`, `dido` and `stdlib` are known so that rulesets
/// using them pass the checks; calling them is a runtime "not supported".
pub const MODULES: &[Module] = &[
    Module {
        domain: "ent",
        actions: &[],
    },
    Module {
        domain: "app",
        actions: &[],
    },
    Module {
        domain: "session",
        actions: &[],
    },
    Module {
        domain: "keys",
        actions: &[],
    },
    Module {
        domain: "event",
        actions: &["send"],
    },
    Module {
        domain: "meta",
        actions: &[],
    },
    Module {
        domain: "time",
        actions: &[],
    },
    Module {
        domain: "math",
        actions: &[],
    },
    Module {
        domain: "random",
        actions: &[],
    },
    // engine extension: install:refuse(message)
    Module {
        domain: "install",
        actions: &[],
    },
    Module {
        domain: "http",
        actions: &["post", "put", "patch", "delete"],
    },
    Module {
        domain: "schedule",
        actions: &["remove", "clear"],
    },
    Module {
        domain: "ctx",
        actions: &[
            "event",
            "eventQuery",
            "newPico",
            "delPico",
            "newChannel",
            "putChannel",
            "upsertChannel",
            "delChannel",
            "install",
            "uninstall",
            "flush",
        ],
    },
    Module {
        domain: "twilio",
        actions: TWILIO_ACTIONS,
    },
    Module {
        domain: "mqtt",
        actions: &["publish", "subscribe", "unsubscribe"],
    },
    // classic
    Module {
        domain: "page",
        actions: &[],
    },
    Module {
        domain: "engine",
        actions: &[],
    },
    // out of scope, known so that they are "not supported" at run time
    Module {
        domain: "stdlib",
        actions: &[],
    },
    Module {
        domain: "ursa",
        actions: &[],
    },
    Module {
        domain: "dido",
        actions: &[],
    },
];

/// The `twilio:` actions: first the verbs, which record TwiML (language
/// 10.9.2), then the REST actions.
pub const TWILIO_ACTIONS: &[&str] = &[
    "say",
    "play",
    "pause",
    "gather_start",
    "gather_stop",
    "record",
    "sms",
    "message",
    "dial",
    "dial_conference",
    "dial_start",
    "number",
    "client",
    "sip",
    "queue",
    "dial_stop",
    "hangup",
    "redirect",
    "reject",
    "enqueue",
    "raw",
    "raw_response",
    "send_sms",
    "place_call",
    "call",
    "redirect_call",
];

/// How many of [`TWILIO_ACTIONS`] are TwiML verbs.
pub const TWILIO_VERB_COUNT: usize = 22;

/// The attributes of the engine's own `mqtt message` event. In the `where`
/// clause of a `select when mqtt message`, each of these names, when
/// nothing else defines it, reads that attribute (`where payload{"Type"} ==
/// "Outgoing"` is `where event:attrs{"payload"}{"Type"} == "Outgoing"`).
pub const MQTT_MESSAGE_ATTRS: &[&str] = &["topic", "payload", "qos", "retain"];

/// The attribute names a `where` clause of the simple event `domain name`
/// may use bare (see [`MQTT_MESSAGE_ATTRS`]); empty for other events.
pub fn where_attrs(domain: &str, name: &str) -> &'static [&'static str] {
    match (domain, name) {
        ("mqtt", "message") => MQTT_MESSAGE_ATTRS,
        _ => &[],
    }
}

/// The built-in module with this domain.
pub fn module(domain: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.domain == domain)
}

/// Reserved words: never a variable, parameter or rule name (language 1.4
/// group 1).
pub const RESERVED: &[&str] = &[
    "defaction",
    "function",
    "return",
    "not",
    "setting",
    "null",
    "true",
    "false",
];

/// Operator words (language 1.4 group 2): fine as rule names, event types
/// and method names, but always read as the operator in an expression, so
/// declaring a variable with one of these names is refused.
pub const OPERATOR_WORDS: &[&str] = &[
    "like", "cmp", "and", "or", "before", "then", "after", "between", "any", "count", "repeat",
];

/// Is `name` a reserved word or an operator word (not declarable)?
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || OPERATOR_WORDS.contains(&name)
}
