//! The library: functions called by their bare name or as methods
//! (`lc(s)`, `s.lc()`; docs/spec/krl-stdlib.md 2–7, implemented in
//! [`crate::runtime::stdlib`]) and the built-in actions (`send_directive`,
//! `noop`, and the classic browser actions, accepted as no-ops:
//! docs/spec/krl-language.md 10.5). The module with the empty domain.

use super::{Kind, Member, Module, NativeArgs, NativeCx};
use crate::host::Directive;
use crate::runtime::{stdlib, Map, RuntimeError, Value};
use std::sync::{Arc, OnceLock};

/// The classic browser actions: no-ops here.
const BROWSER_ACTIONS: &[&str] = &[
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

/// The library module (built once from the standard library's table).
pub fn module() -> &'static Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| {
        let mut members: Vec<Member> = stdlib::all()
            .iter()
            .map(|b| Member {
                name: b.name,
                params: b.params,
                kind: Kind::Library(b.run),
                ..Member::BLANK
            })
            .collect();
        members.push(Member {
            doc: "send_directive(name, options): adds a directive to the event's response",
            // positional only: `name =`/`options =` arguments and `with`
            // modifiers are options like any other name (and are skipped)
            ..Member::action("send_directive", &[], send_directive)
        });
        for name in std::iter::once(&"noop").chain(BROWSER_ACTIONS) {
            // `noop` and `append` are also library functions: the function
            // in expressions, the no-op in action positions
            if let Some(m) = members.iter_mut().find(|m| m.name == *name) {
                if let Kind::Library(f) = m.kind {
                    m.kind = Kind::LibraryAndNoOp(f);
                }
                continue;
            }
            members.push(Member {
                name,
                kind: Kind::NoOp,
                doc: "a classic browser action: accepted and ignored",
                ..Member::BLANK
            });
        }
        Module {
            domain: "",
            doc: "The library functions and built-in actions.",
            members: Box::leak(members.into_boxed_slice()),
            ..Module::BLANK
        }
    })
}

/// `send_directive(name, options)`; classic `with` modifiers become options.
fn send_directive(cx: &mut dyn NativeCx, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let name = a.args.first().map(Value::to_krl_string).unwrap_or_default();
    let options = match a.args.get(1) {
        None | Some(Value::Null) => {
            let mut m = Map::default();
            extend_options(&mut m, a.named);
            Value::from(m)
        }
        Some(Value::Map(m)) => {
            let mut m = (**m).clone();
            extend_options(&mut m, a.named);
            Value::from(m)
        }
        Some(other) => other.clone(),
    };
    let d = Directive {
        name: Arc::from(name.as_str()),
        options,
        rid: cx.rid(),
        rule_name: cx.rule_name().unwrap_or_else(|| Arc::from("")),
        txn_id: cx.txn_id(),
        module: None,
        line_col: None,
    };
    // Its value only for `setting(...)`: most rules drop it.
    let v = if a.wanted { d.to_value() } else { Value::Null };
    cx.directive(d);
    Ok(v)
}

fn extend_options(options: &mut Map, named: &Map) {
    for (k, v) in named.iter() {
        if !v.is_null() && !matches!(&**k, "name" | "options") {
            options.insert(k.clone(), v.clone());
        }
    }
}
