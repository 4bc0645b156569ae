//! Channels as the Pico Engine shows them to KRL (`ctx:channels`,
//! `ctx:newChannel`, ...): tags cleaned to lower case `[a-z0-9_-]` with
//! `system` reserved, and separate `eventPolicy` / `queryPolicy` in its
//! shape (`{allow: [...], deny: [...]}`), converted from and to krl's
//! policy form (`policy`). Uses: `policy`, `store` (the record), `ids`,
//! serde_json.
//!
//! The conversion: a Pico Engine policy is always complete (its default
//! allows everything: `allow: [{"domain": "*", "name": "*"}]`), krl's
//! sections may be absent (absent allows everything). Pico Engine →
//! krl → Pico Engine gives back what was given; krl → Pico Engine → krl
//! gives an equivalent policy, with absent sections spelled out.

use crate::ids::Eci;
use crate::policy::{EventPattern, Policy, QueryPattern, Section};
use crate::store::ChannelRecord;
use serde_json::{json, Map, Value};

/// Cleans tags as the Pico Engine does: runs of other characters become
/// one `-`, no `-` at either end, lower case; a blank tag and `system`
/// are refused (the Pico Engine's texts).
pub fn clean_tags(tags: &Value) -> Result<Vec<String>, String> {
    const NOT_STRINGS: &str = "Channel `tags` must be an array of non-empty strings.";
    let Value::Array(tags) = tags else {
        return Err(NOT_STRINGS.into());
    };
    tags.iter()
        .map(|t| {
            let Value::String(t) = t else {
                return Err(NOT_STRINGS.to_string());
            };
            let tag = clean_tag(t);
            if tag.is_empty() {
                return Err("Channel tag cannot be a blank string.".into());
            }
            if tag == "system" {
                return Err("Cannot tag channel as \"system\".".into());
            }
            Ok(tag)
        })
        .collect()
}

fn clean_tag(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut dash = false;
    for c in t.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            // `-` itself, whitespace and everything else
            dash = true;
        }
    }
    out
}

/// A Pico Engine event policy (`{allow: [{domain, name}], deny: [...]}`)
/// and query policy (`{allow: [{rid, name}], deny: [...]}`) as one krl
/// policy. A null policy is the Pico Engine's default (everything).
pub fn policy_from_pico_engine(event: &Value, query: &Value) -> Result<Policy, String> {
    let events = match event {
        Value::Null => None,
        p => Some(section(
            p,
            "EventPolicy expects {allow: EventPolicyRule[], deny: EventPolicyRule[]}",
            |r| {
                let (domain, name) = rule(
                    r,
                    "domain",
                    "EventPolicyRule expects {domain: string, name: string}",
                )?;
                Ok(EventPattern { domain, name })
            },
        )?),
    };
    let queries = match query {
        Value::Null => None,
        p => Some(section(
            p,
            "QueryPolicy expects {allow: QueryPolicyRule[], deny: QueryPolicyRule[]}",
            |r| {
                let (rid, name) = rule(
                    r,
                    "rid",
                    "QueryPolicyRule expects {rid: string, name: string}",
                )?;
                Ok(QueryPattern { rid, name })
            },
        )?),
    };
    Ok(Policy { events, queries })
}

fn section<P>(
    v: &Value,
    shape: &str,
    rule: impl Fn(&Value) -> Result<P, String>,
) -> Result<Section<P>, String> {
    let Value::Object(m) = v else {
        return Err(shape.into());
    };
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let (Some(Value::Array(allow)), Some(Value::Array(deny))) = (m.get("allow"), m.get("deny"))
    else {
        return Err(shape.into());
    };
    if keys != ["allow", "deny"] {
        return Err(shape.into());
    }
    Ok(Section {
        allow: Some(allow.iter().map(&rule).collect::<Result<_, _>>()?),
        deny: deny.iter().map(&rule).collect::<Result<_, _>>()?,
    })
}

/// `{<first>: string, name: string}`, both non-blank, trimmed.
fn rule(v: &Value, first: &str, shape: &str) -> Result<(String, String), String> {
    let Value::Object(m) = v else {
        return Err(shape.into());
    };
    if m.len() != 2 {
        return Err(shape.into());
    }
    let field = |k: &str| match m.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(shape.to_string()),
    };
    Ok((field(first)?, field("name")?))
}

/// A krl policy (or none) as the Pico Engine's `(eventPolicy,
/// queryPolicy)`.
pub fn policy_to_pico_engine(policy: Option<&Policy>) -> (Value, Value) {
    let star_events = || vec![json!({"domain": "*", "name": "*"})];
    let star_queries = || vec![json!({"rid": "*", "name": "*"})];
    let events = policy.and_then(|p| p.events.as_ref());
    let queries = policy.and_then(|p| p.queries.as_ref());
    let ev = match events {
        None => json!({"allow": star_events(), "deny": []}),
        Some(s) => json!({
            "allow": s.allow.as_ref().map_or_else(star_events, |a| a
                .iter()
                .map(|p| json!({"domain": p.domain, "name": p.name}))
                .collect()),
            "deny": s.deny.iter().map(|p| json!({"domain": p.domain, "name": p.name})).collect::<Vec<_>>(),
        }),
    };
    let q = match queries {
        None => json!({"allow": star_queries(), "deny": []}),
        Some(s) => json!({
            "allow": s.allow.as_ref().map_or_else(star_queries, |a| a
                .iter()
                .map(|p| json!({"rid": p.rid, "name": p.name}))
                .collect()),
            "deny": s.deny.iter().map(|p| json!({"rid": p.rid, "name": p.name})).collect::<Vec<_>>(),
        }),
    };
    (ev, q)
}

/// A channel as the Pico Engine shows it: `{id, tags, eventPolicy,
/// queryPolicy, familyChannelPicoID}`.
pub fn to_json(eci: &Eci, ch: &ChannelRecord) -> Value {
    let policy = ch.policy.as_ref().and_then(|p| Policy::from_json(p).ok());
    let (ev, q) = policy_to_pico_engine(policy.as_ref());
    let mut m = Map::new();
    m.insert("id".into(), json!(eci));
    m.insert("tags".into(), json!(ch.tags));
    m.insert("eventPolicy".into(), ev);
    m.insert("queryPolicy".into(), q);
    m.insert("familyChannelPicoID".into(), json!(ch.family));
    Value::Object(m)
}

/// krl's stored form of a policy: `None` when it allows everything of
/// both kinds (no check on the event path).
pub fn stored_policy(policy: &Policy) -> Option<Value> {
    let open_events = policy.events.as_ref().is_none_or(|s| {
        s.deny.is_empty()
            && s.allow
                .as_ref()
                .is_none_or(|a| a.iter().any(|p| p.domain == "*" && p.name == "*"))
    });
    let open_queries = policy.queries.as_ref().is_none_or(|s| {
        s.deny.is_empty()
            && s.allow
                .as_ref()
                .is_none_or(|a| a.iter().any(|p| p.rid == "*" && p.name == "*"))
    });
    if open_events && open_queries {
        None
    } else {
        Some(serde_json::to_value(policy).expect("a policy serialises"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_cleaned_as_the_pico_engine_does() {
        assert_eq!(
            clean_tags(&json!(["Bar Two", "X.y", "  a--b  ", "-x-", "ok_1"])).unwrap(),
            vec!["bar-two", "x-y", "a-b", "x", "ok_1"]
        );
        assert_eq!(
            clean_tags(&json!(["System"])).unwrap_err(),
            "Cannot tag channel as \"system\"."
        );
        assert_eq!(
            clean_tags(&json!(["..."])).unwrap_err(),
            "Channel tag cannot be a blank string."
        );
        assert!(clean_tags(&json!("a")).is_err());
        assert!(clean_tags(&json!([1])).is_err());
    }

    #[test]
    fn pico_engine_policies_round_trip() {
        let ev = json!({"allow": [{"domain": "echo", "name": "*"}], "deny": [{"domain": "echo", "name": "bad"}]});
        let q = json!({"allow": [], "deny": []});
        let p = policy_from_pico_engine(&ev, &q).unwrap();
        assert!(p.allows_event("echo", "hi"));
        assert!(!p.allows_event("echo", "bad"));
        assert!(!p.allows_event("other", "hi"));
        // `allow: []` allows nothing
        assert!(!p.allows_query("r", "f"));
        assert_eq!(policy_to_pico_engine(Some(&p)), (ev, q));
        // krl -> Pico Engine -> krl: the same verdicts
        let krl = Policy::from_json(&json!({"events": {"deny": [{"domain": "x"}]}})).unwrap();
        let (ev, q) = policy_to_pico_engine(Some(&krl));
        assert_eq!(ev["allow"], json!([{"domain": "*", "name": "*"}]));
        assert_eq!(q["allow"], json!([{"rid": "*", "name": "*"}]));
        let back = policy_from_pico_engine(&ev, &q).unwrap();
        for (d, n) in [("x", "y"), ("a", "b")] {
            assert_eq!(back.allows_event(d, n), krl.allows_event(d, n));
        }
        // the default is open and stored as no policy
        assert_eq!(
            stored_policy(&policy_from_pico_engine(&Value::Null, &Value::Null).unwrap()),
            None
        );
        assert!(stored_policy(&back).is_some());
    }

    #[test]
    fn malformed_pico_engine_policies_are_refused() {
        for bad in [
            json!({"allow": []}),
            json!({"allow": [], "deny": [], "x": 1}),
            json!({"allow": [{"domain": "a"}], "deny": []}),
            json!({"allow": [{"domain": " ", "name": "b"}], "deny": []}),
        ] {
            assert!(
                policy_from_pico_engine(&bad, &Value::Null).is_err(),
                "{bad}"
            );
        }
    }
}
