//! Topic subscriptions of picos: stored under `B pico filter` (written
//! with the event that ran `mqtt:subscribe`, or by the admin API), and
//! the connection task's index of them: which picos a message's topic
//! reaches, and the broker-side filters (each filter once, at the highest
//! QoS any pico asked for).

use crate::ids::PicoId;
use crate::store::{Key, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A stored subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubRecord {
    /// The QoS asked for (0 or 1).
    pub qos: u8,
}

/// One pico's subscriptions, by filter.
pub fn of_pico(store: &Store, pico: &PicoId) -> crate::store::Result<Vec<(String, u8)>> {
    Ok(store
        .scan::<SubRecord>(&Key::mqtt_subs_of(pico))?
        .into_iter()
        .filter_map(|(k, r)| {
            let (_, mut parts) = Key::decode(k.as_bytes())?;
            Some((parts.pop()?, r.qos))
        })
        .collect())
}

/// Every stored subscription: (pico, filter, qos).
pub fn load(store: &Store) -> crate::store::Result<Vec<(PicoId, String, u8)>> {
    Ok(store
        .scan::<SubRecord>(&Key::mqtt_subs_all())?
        .into_iter()
        .filter_map(|(k, r)| {
            let (_, parts) = Key::decode(k.as_bytes())?;
            match <[String; 2]>::try_from(parts) {
                Ok([pico, filter]) => Some((PicoId::new(pico), filter, r.qos)),
                Err(_) => None,
            }
        })
        .collect())
}

/// Filter → picos (with their QoS).
#[derive(Debug, Default)]
pub struct Index {
    by_filter: HashMap<String, BTreeMap<PicoId, u8>>,
}

impl Index {
    /// Adds (or changes the QoS of) a pico's subscription. Answers the
    /// filter's broker-side QoS when that changed (a SUBSCRIBE is due).
    pub fn add(&mut self, pico: &PicoId, filter: &str, qos: u8) -> Option<u8> {
        let before = self.broker_qos(filter);
        self.by_filter
            .entry(filter.to_string())
            .or_default()
            .insert(pico.clone(), qos);
        let after = self.broker_qos(filter);
        (before != after).then_some(after.unwrap_or(qos))
    }

    /// Drops a pico's subscription. Answers true when no pico has the
    /// filter any more (an UNSUBSCRIBE is due).
    pub fn remove(&mut self, pico: &PicoId, filter: &str) -> bool {
        let Some(picos) = self.by_filter.get_mut(filter) else {
            return false;
        };
        picos.remove(pico);
        if picos.is_empty() {
            self.by_filter.remove(filter);
            return true;
        }
        false
    }

    /// Drops every subscription of a pico (it is gone); answers the
    /// filters nobody has any more.
    pub fn remove_pico(&mut self, pico: &PicoId) -> Vec<String> {
        let filters: Vec<String> = self
            .by_filter
            .iter()
            .filter(|(_, p)| p.contains_key(pico))
            .map(|(f, _)| f.clone())
            .collect();
        filters
            .into_iter()
            .filter(|f| self.remove(pico, f))
            .collect()
    }

    /// The broker-side QoS of a filter: the highest any pico asked for.
    pub fn broker_qos(&self, filter: &str) -> Option<u8> {
        self.by_filter
            .get(filter)
            .and_then(|p| p.values().copied().max())
    }

    /// Every filter with its broker-side QoS, sorted (for SUBSCRIBE on
    /// connect).
    pub fn filters(&self) -> Vec<(String, u8)> {
        let mut out: Vec<(String, u8)> = self
            .by_filter
            .iter()
            .filter_map(|(f, p)| Some((f.clone(), p.values().copied().max()?)))
            .collect();
        out.sort();
        out
    }

    /// The picos a message on `topic` reaches, each once, in id order.
    pub fn picos_for(&self, topic: &str) -> Vec<PicoId> {
        let mut out: Vec<PicoId> = self
            .by_filter
            .iter()
            .filter(|(f, _)| krl_lang::modules::mqtt::matches(f, topic))
            .flat_map(|(_, p)| p.keys().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every (pico, filter) subscription.
    pub fn entries(&self) -> Vec<(PicoId, String)> {
        self.by_filter
            .iter()
            .flat_map(|(f, p)| p.keys().map(move |pico| (pico.clone(), f.clone())))
            .collect()
    }

    /// Is nothing subscribed?
    pub fn is_empty(&self) -> bool {
        self.by_filter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_tracks_broker_filters_and_picos() {
        let (a, b) = (PicoId::new("a"), PicoId::new("b"));
        let mut ix = Index::default();
        assert_eq!(ix.add(&a, "twilio", 0), Some(0));
        assert_eq!(ix.add(&b, "twilio", 1), Some(1));
        assert_eq!(ix.add(&a, "twilio", 0), None);
        assert_eq!(ix.add(&a, "things/+/shadow", 1), Some(1));
        assert_eq!(ix.picos_for("twilio"), vec![a.clone(), b.clone()]);
        assert_eq!(ix.picos_for("things/d1/shadow"), vec![a.clone()]);
        assert!(ix.picos_for("other").is_empty());
        assert_eq!(
            ix.filters(),
            vec![("things/+/shadow".into(), 1), ("twilio".into(), 1)]
        );
        assert!(!ix.remove(&b, "twilio"));
        assert_eq!(ix.broker_qos("twilio"), Some(0));
        let mut gone = ix.remove_pico(&a);
        gone.sort();
        assert_eq!(
            gone,
            vec!["things/+/shadow".to_string(), "twilio".to_string()]
        );
        assert!(ix.is_empty());
    }
}
