//! The native modules: every `domain:name` a ruleset can use without a
//! `use module`, and the library functions (the empty domain). Each module
//! is one file (or folder) holding one [`Module`] value; [`registry`]
//! collects them. The integrations' language halves — `twilio`, `mqtt`,
//! `http` — are cargo features.
//!
//! Engine extensions beyond the reference are documented on their members:
//! `time:strftime(date, fmt, opts)` formats in an IANA time zone,
//! `time:local(date, tz)` breaks a date into wall-clock fields,
//! `install:refuse(message)` refuses an install with a configuration
//! error, `meta:host` is the engine's public base URL.

pub mod classic;
pub mod ctx;
pub mod dido;
pub mod event;
pub mod install;
pub mod keys;
pub mod library;
pub mod math;
pub mod meta;
pub mod random;
pub mod schedule;
pub mod time;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "twilio")]
pub mod twilio;

pub use crate::native::{Env, Kind, Member, Module, NativeArgs, NativeCx, Registry, Unknown};
use std::sync::OnceLock;

/// The default registry: every module this build has.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        #[allow(unused_mut)]
        let mut modules: Vec<&'static Module> = vec![
            library::module(),
            &event::MODULE,
            &meta::MODULE,
            &keys::MODULE,
            &time::MODULE,
            &math::MODULE,
            &random::MODULE,
            &install::MODULE,
            &schedule::MODULE,
            &ctx::MODULE,
        ];
        modules.extend(classic::MODULES);
        #[cfg(feature = "http")]
        modules.push(&http::MODULE);
        #[cfg(feature = "mqtt")]
        modules.push(&mqtt::MODULE);
        #[cfg(feature = "twilio")]
        modules.push(twilio::module());
        Registry::new(modules)
    })
}

pub use crate::native::{not_supported, NOT_SUPPORTED};

// Helpers shared by the module files (and `runtime::time`).
use crate::runtime::{arg, s};

#[cfg(test)]
pub(crate) mod testing {
    //! Shorthands for the module tests.
    use super::*;
    use crate::runtime::{RuntimeError, Value};
    use std::sync::Arc;

    /// Calls `domain:name(args)` at `now_ms` with a fixed random sequence.
    pub fn run_at(
        now_ms: f64,
        randoms: &[f64],
        domain: &str,
        name: &str,
        args: &[Value],
    ) -> Result<Value, RuntimeError> {
        let mut i = 0;
        let mut next = || {
            let r = randoms
                .get(i % randoms.len().max(1))
                .copied()
                .unwrap_or(0.5);
            i += 1;
            r
        };
        let mut env = Env {
            now_ms,
            random: &mut next,
        };
        let m = super::registry()
            .module(domain)
            .and_then(|m| m.member(name))
            .expect("no such member");
        match m.kind {
            Kind::Function(f) => f(args, &mut env),
            Kind::Property(p) => Ok(p()),
            _ => panic!("{domain}:{name} is not a pure function"),
        }
    }

    /// A property of a module (`math:hashAlgorithms`).
    pub fn property(domain: &str, name: &str) -> Option<Value> {
        match super::registry().module(domain)?.member(name)?.kind {
            Kind::Property(p) => Some(p()),
            _ => None,
        }
    }

    /// `2024-05-17T12:00:00.000Z`, the clock of most tests.
    pub const NOW: f64 = 1_715_947_200_000.0;

    /// Calls `domain:name(args)` at [`NOW`].
    pub fn run(domain: &str, name: &str, args: &[Value]) -> Result<Value, RuntimeError> {
        run_at(NOW, &[0.5], domain, name, args)
    }

    /// The result, which must not be an error.
    pub fn ok(domain: &str, name: &str, args: &[Value]) -> Value {
        run(domain, name, args).unwrap_or_else(|e| panic!("{domain}:{name}: {e}"))
    }

    /// The error message, which there must be.
    pub fn err(domain: &str, name: &str, args: &[Value]) -> String {
        match run(domain, name, args) {
            Ok(v) => panic!("{domain}:{name} gave {v:?}, not an error"),
            Err(e) => e.message,
        }
    }

    /// A string value.
    pub fn st(x: &str) -> Value {
        Value::from(x)
    }

    /// A number value.
    pub fn n(x: f64) -> Value {
        Value::from(x)
    }

    /// A value from JSON text.
    pub fn j(text: &str) -> Value {
        Value::from_json(&serde_json::from_str(text).unwrap())
    }

    /// A map from pairs.
    pub fn map(pairs: &[(&str, Value)]) -> Value {
        Value::from(
            pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), v.clone()))
                .collect::<crate::runtime::Map>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_tables_have_unique_names() {
        for m in registry().modules() {
            for (i, a) in m.members.iter().enumerate() {
                assert!(
                    m.members[i + 1..].iter().all(|o| o.name != a.name),
                    "{}:{}",
                    m.domain,
                    a.name
                );
                if let Kind::Property(_) = a.kind {
                    assert!(a.params.is_empty());
                }
            }
        }
    }

    #[test]
    fn every_domain_is_registered_once() {
        let r = registry();
        let mut seen = std::collections::HashSet::new();
        for m in r.modules() {
            assert!(seen.insert(m.domain), "{} twice", m.domain);
        }
        for d in [
            "event", "meta", "keys", "time", "math", "random", "install", "schedule", "ctx",
        ] {
            assert!(r.module(d).is_some(), "{d}");
        }
        assert!(r.library("lc").is_some());
        assert!(r.library("send_directive").is_some_and(Member::is_action));
    }
}
