//! The pico tree and its channels in the store: new picos with their
//! `system,self` channel and the two family channels of the Pico Engine
//! (`system,parent` on the parent, usable only by the child; `system,child`
//! on the child, usable only by the parent), channels made, changed and
//! deleted, subtrees cut off. Uses: `store`, `ids`, `clock`.
//!
//! Every read-modify-write of pico records goes through [`Family`], which
//! holds one lock across the read and the apply: the admin routes and the
//! picos' own `ctx:` actions change the same records (a pico's list of
//! channels, the seq of a parent's next child), so they must not
//! interleave. A child is one key of its own under its parent (`H parent
//! seq child`, see `store`), which also holds the child's family channel
//! on the parent: making a child writes the same few keys whatever the
//! number of its siblings, and does not touch the parent's record. The
//! lock is held only for that (microseconds, no I/O wait besides sled's
//! in-memory apply), never across an evaluation or a flush: the event
//! path takes no global lock.

use crate::ids::{Eci, PicoId};
use crate::store::{ChannelRecord, Key, PicoRecord, Store, StoreError, WriteBuf};
use std::sync::Mutex;

/// A structural change asked for by a rule, made when its event commits
/// (in the same batch as the event's other writes).
#[derive(Clone, Debug)]
pub enum Change {
    /// A new channel of `pico`.
    NewChannel {
        /// The pico.
        pico: PicoId,
        /// Its eci.
        eci: Eci,
        /// The record.
        record: ChannelRecord,
    },
    /// A channel's new tags and policy.
    PutChannel {
        /// The channel.
        eci: Eci,
        /// The record.
        record: ChannelRecord,
    },
    /// A channel deleted.
    DelChannel {
        /// Its pico.
        pico: PicoId,
        /// The channel.
        eci: Eci,
    },
    /// A child (and its subtree) deleted.
    DelPico {
        /// The child.
        child: PicoId,
    },
}

/// A new pico, as [`Family::new_child`] made it.
#[derive(Clone, Debug)]
pub struct NewChild {
    /// Its id (also the eci of its `system,self` channel).
    pub id: PicoId,
    /// The family channel its parent uses (on the child).
    pub child_eci: Eci,
    /// The family channel it uses (on the parent).
    pub parent_eci: Eci,
}

/// The pico tree's writer. See the module doc.
pub struct Family {
    store: Store,
    lock: Mutex<()>,
}

impl Family {
    /// A fresh pico id. In a cluster, one of a shard this node serves, so
    /// that the new pico starts here (its keys, the parent's link to it
    /// included, are all in its shard: `store::pg::shard_of_key`).
    fn new_id(&self) -> PicoId {
        let Some(leases) = self.store.leases().filter(|l| l.serves_any()) else {
            return PicoId::random();
        };
        // 1,024 shards: a node serving one of them finds an id in about
        // 1,024 tries; the bound only guards a node losing all meanwhile.
        for _ in 0..1_000_000 {
            let id = PicoId::random();
            if leases.serves_pico(id.as_str()) {
                return id;
            }
        }
        PicoId::random()
    }

    /// The writer of `store`'s tree.
    pub fn new(store: Store) -> Family {
        Family {
            store,
            lock: Mutex::new(()),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic under the lock cannot leave half a write (the apply is
        // one batch): the records are fine to use.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a child of `parent`, with its self channel, the two family
    /// channels and, when given, an open channel `first` (the admin API's
    /// pico channel, listed first). Applied to the store at once (not yet
    /// flushed).
    pub fn new_child(
        &self,
        parent: &PicoId,
        name: &str,
        first: Option<(Eci, Vec<String>)>,
    ) -> Result<Option<NewChild>, StoreError> {
        let _g = self.guard();
        if self.store.pico(parent)?.is_none() {
            return Ok(None);
        }
        let id = self.new_id();
        let child_eci = Eci::random();
        let parent_eci = Eci::random();
        // After the parent's last child (under the lock: nobody else
        // takes the same seq).
        let seq = match self.store.last_key(&Key::children(parent))? {
            Some(last) => last.child_parts().map_or(0, |(s, _)| s + 1),
            None => 0,
        };
        let mut buf = WriteBuf::new();
        let mut channels: Vec<Eci> = Vec::new();
        if let Some((eci, tags)) = first {
            buf.put(Key::channel(&eci), &open_channel(&id, tags));
            channels.push(eci);
        }
        channels.push(self_channel(&mut buf, &id));
        buf.put(
            Key::channel(&child_eci),
            &family_channel(&id, &["system", "child"], parent),
        );
        channels.push(child_eci.clone());
        buf.put(
            Key::pico(&id),
            &PicoRecord {
                name: name.to_string(),
                parent: Some(parent.clone()),
                children: Vec::new(),
                child_seq: Some(seq),
                channels,
                parent_eci: Some(parent_eci.clone()),
                child_eci: Some(child_eci.clone()),
            },
        );
        buf.put(Key::installs(&id), &Vec::<()>::new());
        buf.put(
            Key::channel(&parent_eci),
            &family_channel(parent, &["system", "parent"], &id),
        );
        // The parent's family channel for the child is listed in the
        // child's `H` key, not in the parent's record.
        buf.put(Key::child(parent, seq, &id), &parent_eci);
        self.store.apply(buf)?;
        Ok(Some(NewChild {
            id,
            child_eci,
            parent_eci,
        }))
    }

    /// Applies `changes` with `buf` (an event's writes) as one batch.
    /// Answers the picos cut off (deleted subtrees), whose tasks and state
    /// the caller then drops.
    pub fn apply(&self, changes: &[Change], mut buf: WriteBuf) -> Result<Vec<PicoId>, StoreError> {
        if changes.is_empty() {
            self.store.apply(buf)?;
            return Ok(Vec::new());
        }
        let _g = self.guard();
        let mut cut = Vec::new();
        for c in changes {
            match c {
                Change::NewChannel { pico, eci, record } => {
                    let Some(mut rec) = buf.get::<PicoRecord>(&self.store, &Key::pico(pico))?
                    else {
                        continue;
                    };
                    rec.channels.push(eci.clone());
                    buf.put(Key::pico(pico), &rec);
                    buf.put(Key::channel(eci), record);
                }
                Change::PutChannel { eci, record } => {
                    if buf
                        .get::<ChannelRecord>(&self.store, &Key::channel(eci))?
                        .is_some()
                    {
                        buf.put(Key::channel(eci), record);
                    }
                }
                Change::DelChannel { pico, eci } => {
                    if let Some(mut rec) = buf.get::<PicoRecord>(&self.store, &Key::pico(pico))? {
                        rec.channels.retain(|c| c != eci);
                        buf.put(Key::pico(pico), &rec);
                    }
                    buf.remove(Key::channel(eci));
                }
                Change::DelPico { child } => {
                    cut.extend(self.cut_into(&mut buf, child)?);
                }
            }
        }
        self.store.apply(buf)?;
        Ok(cut)
    }

    /// Cuts pico `id` and its subtree off the tree (no records, no
    /// channels, its parent no longer lists it) and answers the picos cut,
    /// parents first. Applied at once.
    pub fn cut(&self, id: &PicoId) -> Result<Vec<PicoId>, StoreError> {
        let _g = self.guard();
        let mut buf = WriteBuf::new();
        let cut = self.cut_into(&mut buf, id)?;
        self.store.apply(buf)?;
        Ok(cut)
    }

    fn cut_into(&self, buf: &mut WriteBuf, id: &PicoId) -> Result<Vec<PicoId>, StoreError> {
        let Some(rec) = buf.get::<PicoRecord>(&self.store, &Key::pico(id))? else {
            return Ok(Vec::new());
        };
        let mut doomed = vec![(id.clone(), rec.clone())];
        let mut at = 0;
        while at < doomed.len() {
            let children = buf.children(&self.store, &doomed[at].0, &doomed[at].1)?;
            for child in children {
                if let Some(r) = buf.get::<PicoRecord>(&self.store, &Key::pico(&child))? {
                    doomed.push((child, r));
                }
            }
            at += 1;
        }
        for (pico, r) in &doomed {
            buf.remove(Key::pico(pico));
            buf.remove_prefix(&self.store, &Key::children(pico))?;
            for eci in &r.channels {
                buf.remove(Key::channel(eci));
            }
            // Its family channel on its parent (in the parent's record
            // only in older folders).
            if let Some(pe) = &r.parent_eci {
                buf.remove(Key::channel(pe));
            }
        }
        if let Some(parent) = &rec.parent {
            if let Some(seq) = rec.child_seq {
                buf.remove(Key::child(parent, seq, id));
            }
            // Older folders list the child and its family channel in the
            // parent's record.
            if let Some(mut p) = buf.get::<PicoRecord>(&self.store, &Key::pico(parent))? {
                let pe = rec.parent_eci.as_ref();
                if p.children.contains(id) || pe.is_some_and(|pe| p.channels.contains(pe)) {
                    p.children.retain(|c| c != id);
                    p.channels.retain(|c| Some(c) != pe);
                    buf.put(Key::pico(parent), &p);
                }
            }
        }
        Ok(doomed.into_iter().map(|(p, _)| p).collect())
    }

    /// Adds a channel to a pico now (the admin API). `false` when the
    /// pico is gone.
    pub fn add_channel(
        &self,
        pico: &PicoId,
        eci: &Eci,
        record: &ChannelRecord,
    ) -> Result<bool, StoreError> {
        let _g = self.guard();
        let Some(mut rec) = self.store.pico(pico)? else {
            return Ok(false);
        };
        rec.channels.push(eci.clone());
        let mut buf = WriteBuf::new();
        buf.put(Key::pico(pico), &rec);
        buf.put(Key::channel(eci), record);
        self.store.apply(buf)?;
        Ok(true)
    }

    /// Deletes a channel now (the admin API). `false` when there is none.
    pub fn remove_channel(&self, eci: &Eci) -> Result<bool, StoreError> {
        let _g = self.guard();
        let Some(ch) = self.store.channel(eci)? else {
            return Ok(false);
        };
        let mut buf = WriteBuf::new();
        buf.remove(Key::channel(eci));
        if let Some(mut rec) = self.store.pico(&ch.pico)? {
            rec.channels.retain(|c| c != eci);
            buf.put(Key::pico(&ch.pico), &rec);
        }
        self.store.apply(buf)?;
        Ok(true)
    }
}

/// The records of the root pico, into `buf`: the pico, no installs, its
/// first channel (open, tagged `system`) and its self channel.
pub fn root_records(buf: &mut WriteBuf, id: &PicoId, eci: &Eci) {
    buf.put(Key::channel(eci), &open_channel(id, vec!["system".into()]));
    let self_eci = self_channel(buf, id);
    buf.put(
        Key::pico(id),
        &PicoRecord {
            name: "root".into(),
            parent: None,
            children: Vec::new(),
            child_seq: None,
            channels: vec![eci.clone(), self_eci],
            parent_eci: None,
            child_eci: None,
        },
    );
    buf.put(Key::installs(id), &Vec::<()>::new());
}

/// The `system,self` channel of pico `id` (its eci is the pico id; only
/// the pico itself may use it), into `buf`.
pub fn self_channel(buf: &mut WriteBuf, id: &PicoId) -> Eci {
    let eci = Eci::new(id.as_str());
    buf.put(
        Key::channel(&eci),
        &family_channel(id, &["system", "self"], id),
    );
    eci
}

fn open_channel(pico: &PicoId, tags: Vec<String>) -> ChannelRecord {
    ChannelRecord {
        pico: pico.clone(),
        tags,
        policy: None,
        twilio_auth_token: None,
        family: None,
    }
}

fn family_channel(pico: &PicoId, tags: &[&str], owner: &PicoId) -> ChannelRecord {
    ChannelRecord {
        pico: pico.clone(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        policy: None,
        twilio_auth_token: None,
        family: Some(owner.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_get_family_channels_and_cutting_removes_the_subtree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let root = PicoId::new("root");
        let mut buf = WriteBuf::new();
        root_records(&mut buf, &root, &Eci::new("root-eci"));
        store.apply(buf).unwrap();
        let family = Family::new(store.clone());
        let a = family.new_child(&root, "a", None).unwrap().unwrap();
        let b = family.new_child(&a.id, "b", None).unwrap().unwrap();
        // the parent's channel for the child, usable only by the child
        let pc = store.channel(&a.parent_eci).unwrap().unwrap();
        assert_eq!(
            (pc.pico.clone(), pc.family.clone()),
            (root.clone(), Some(a.id.clone()))
        );
        let cc = store.channel(&a.child_eci).unwrap().unwrap();
        assert_eq!(
            (cc.pico.clone(), cc.family.clone()),
            (a.id.clone(), Some(root.clone()))
        );
        let me = store.channel(&Eci::new(a.id.as_str())).unwrap().unwrap();
        assert_eq!(me.tags, vec!["system", "self"]);
        let root_rec = store.pico(&root).unwrap().unwrap();
        assert_eq!(
            store.children(&root, &root_rec).unwrap(),
            vec![a.id.clone()]
        );
        assert!(
            root_rec.children.is_empty(),
            "children are keys of their own"
        );
        // cut a: b goes too, and root forgets a and its family channel
        let cut = family.cut(&a.id).unwrap();
        assert_eq!(cut, vec![a.id.clone(), b.id.clone()]);
        assert!(store.pico(&b.id).unwrap().is_none());
        assert!(store.channel(&a.parent_eci).unwrap().is_none());
        assert!(store.channel(&b.child_eci).unwrap().is_none());
        let r = store.pico(&root).unwrap().unwrap();
        assert!(store.children(&root, &r).unwrap().is_empty());
        assert!(store.keys(&Key::children(&a.id)).unwrap().is_empty());
        assert!(!r.channels.contains(&a.parent_eci));
    }
}
