//! Channel policies: which events and queries a channel lets through.
//! Uses: serde, serde_json.
//!
//! ```json
//! {"events":  {"allow": [{"domain": "echo", "name": "*"}], "deny": [...]},
//!  "queries": {"allow": [{"rid": "*", "name": "hello"}],  "deny": [...]}}
//! ```
//!
//! * `"*"` matches any value; a missing `domain`/`name`/`rid` is `"*"`.
//! * Deny wins: something matching a `deny` entry is refused even if an
//!   `allow` entry matches too.
//! * Otherwise it is let through when an `allow` entry matches. A section
//!   without `allow` allows everything (so `{"events": {"deny": [...]}}`
//!   only takes some events away); `"allow": []` allows nothing.
//! * A missing section (`events` or `queries`) allows everything of that
//!   kind, and a channel without a policy allows everything.
//! * Unknown keys are an error, so a typo (`"event"`) cannot silently
//!   leave a channel open.

use serde::{Deserialize, Serialize};

/// A channel's policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rules for events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Section<EventPattern>>,
    /// Rules for queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<Section<QueryPattern>>,
}

/// Allow and deny lists of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// serde would otherwise ask `P: Default` because of `#[serde(default)]`.
#[serde(deny_unknown_fields, bound(deserialize = "P: Deserialize<'de>"))]
pub struct Section<P> {
    /// `None`: everything not denied is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<P>>,
    /// Refused, whatever `allow` says.
    #[serde(default)]
    pub deny: Vec<P>,
}

/// An event pattern: `{"domain", "name"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPattern {
    /// Event domain or `*`.
    #[serde(default = "star")]
    pub domain: String,
    /// Event name (type) or `*`.
    #[serde(default = "star")]
    pub name: String,
}

/// A query pattern: `{"rid", "name"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryPattern {
    /// Ruleset id or `*`.
    #[serde(default = "star")]
    pub rid: String,
    /// Function name or `*`.
    #[serde(default = "star")]
    pub name: String,
}

fn star() -> String {
    "*".into()
}

fn matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

/// What a policy says of one event or query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It may pass.
    Allowed,
    /// A `deny` pattern names it.
    Denied,
    /// There is an `allow` list and nothing in it names it.
    NotAllowed,
}

impl<P> Section<P> {
    fn verdict(&self, matches: impl Fn(&P) -> bool) -> Verdict {
        if self.deny.iter().any(&matches) {
            return Verdict::Denied;
        }
        match &self.allow {
            Some(allow) if !allow.iter().any(matches) => Verdict::NotAllowed,
            _ => Verdict::Allowed,
        }
    }
}

impl Policy {
    /// Reads a policy from JSON; the error says what is wrong.
    pub fn from_json(v: &serde_json::Value) -> Result<Policy, String> {
        // serde also reads a struct from an array (positionally): refuse.
        if !v.is_object() {
            return Err("invalid channel policy: expected a JSON object".into());
        }
        Policy::deserialize(v).map_err(|e| format!("invalid channel policy: {e}"))
    }

    /// May an event `domain:name` pass?
    pub fn allows_event(&self, domain: &str, name: &str) -> bool {
        self.event_verdict(domain, name) == Verdict::Allowed
    }

    /// May a query of `rid`'s `name` pass?
    pub fn allows_query(&self, rid: &str, name: &str) -> bool {
        self.query_verdict(rid, name) == Verdict::Allowed
    }

    /// What the policy says of an event `domain:name`.
    pub fn event_verdict(&self, domain: &str, name: &str) -> Verdict {
        match &self.events {
            None => Verdict::Allowed,
            Some(s) => s.verdict(|p| matches(&p.domain, domain) && matches(&p.name, name)),
        }
    }

    /// What the policy says of a query of `rid`'s `name`.
    pub fn query_verdict(&self, rid: &str, name: &str) -> Verdict {
        match &self.queries {
            None => Verdict::Allowed,
            Some(s) => s.verdict(|p| matches(&p.rid, rid) && matches(&p.name, name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Policy {
        Policy::from_json(&v).unwrap()
    }

    #[test]
    fn empty_policy_allows_everything() {
        let p = policy(json!({}));
        assert!(p.allows_event("any", "thing"));
        assert!(p.allows_query("io.x", "f"));
    }

    #[test]
    fn allow_list_admits_only_what_it_names() {
        let p = policy(json!({"events": {"allow": [{"domain": "echo", "name": "hello"}]}}));
        assert!(p.allows_event("echo", "hello"));
        assert!(!p.allows_event("echo", "bye"));
        assert!(!p.allows_event("other", "hello"));
        // No queries section: queries are untouched.
        assert!(p.allows_query("io.x", "f"));
    }

    #[test]
    fn star_matches_any_value_and_missing_fields_are_star() {
        let p = policy(
            json!({"events": {"allow": [{"domain": "echo", "name": "*"}, {"name": "ping"}]}}),
        );
        assert!(p.allows_event("echo", "anything"));
        assert!(p.allows_event("x", "ping"));
        assert!(!p.allows_event("x", "pong"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy(json!({"events": {
            "allow": [{"domain": "*", "name": "*"}],
            "deny": [{"domain": "secret", "name": "*"}]}}));
        assert!(p.allows_event("echo", "hello"));
        assert!(!p.allows_event("secret", "open"));
    }

    #[test]
    fn deny_without_allow_takes_away_only_the_denied() {
        let p = policy(json!({"queries": {"deny": [{"rid": "io.x", "name": "private"}]}}));
        assert!(!p.allows_query("io.x", "private"));
        assert!(p.allows_query("io.x", "public"));
        assert!(p.allows_event("a", "b"));
    }

    #[test]
    fn empty_allow_list_allows_nothing() {
        let p = policy(json!({"queries": {"allow": []}}));
        assert!(!p.allows_query("io.x", "f"));
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_are_errors() {
        assert!(Policy::from_json(&json!({"event": {}})).is_err());
        assert!(Policy::from_json(&json!({"events": {"allow": "*"}})).is_err());
        assert!(Policy::from_json(&json!({"events": {"allow": [{"domian": "x"}]}})).is_err());
        assert!(Policy::from_json(&json!([])).is_err());
    }
}
