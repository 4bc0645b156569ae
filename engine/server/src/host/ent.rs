//! Entity variables: maps kept by entry, so that `ent:m{k} := v` and
//! `ent:m{k}` cost one key whatever the size of the map, and the pico's
//! cache of committed values, so that reading a variable again costs no
//! store read and no JSON decoding. Uses: `store`, krl_lang.
//!
//! # Layout
//!
//! A variable lives under `E pico rid name` as its JSON. The first write
//! through a path (`ent:m{path} := v`, `clear ent:m{path}`) to a map, or
//! to a variable not yet set, keeps it *by entry* from then on: the
//! variable's key holds the single byte `0x00` (which no JSON text starts
//! with), and each top-level entry `k` lives under `E pico rid name k` as
//! `[seq, value]`. `seq` keeps the map's insertion order (KRL maps are
//! ordered): it comes from the pico's microsecond clock, which never goes
//! back ([`PicoHost::next_seq`]), and an entry written again keeps its
//! own. So a path write reads and writes one entry and the path read
//! reads one; a whole read gathers the entries in `seq` order; a whole
//! write (`ent:m := {...}`) drops the entries and stores the value whole
//! again. A variable that is not a map (an array, a string, ...) is
//! always stored whole, as are the maps of data folders written before
//! this layout, until their first path write splits them. Removing
//! everything a ruleset or a pico keeps goes by key prefix, which covers
//! the entries.
//!
//! # The cache
//!
//! Each pico task keeps an [`EntCache`] of the committed values its
//! evaluations read or wrote: reads go to the evaluation's own writes
//! first, then the cache, then the store (and fill the cache). The task
//! puts each batch's entity writes into the cache once the batch is
//! applied ([`EntCache::committed`]), so an evaluation that fails leaves
//! the cache as it was. The pico's task is the only writer of its
//! entity variables, which is what makes the cache right. It holds about
//! [`CACHE_BYTES`] at most (keys and stored JSON, plus
//! [`CACHE_ENTRY_OVERHEAD`] per key; when full, about a quarter of it is
//! dropped, whichever keys the map yields first) and no value larger than
//! [`CACHE_VALUE_BYTES`] bytes of JSON. A pico's memory therefore follows
//! what its rules touch: a counter keeps one key; an IVR that remembers
//! 100,000 callers by entry keeps them all (about 18 MiB: a 62-byte key,
//! 22 bytes of `[seq, "digits"]` and the overhead each), so no caller's
//! event reads the store. The cache goes with the task when an idle pico
//! leaves memory.

use super::{check_value_depth, storage, PicoHost};
use crate::store::{decode, Key, StoreError};
use krl_lang::eval::{path_delete, path_get, path_set};
use krl_lang::runtime::{Map as KrlMap, RuntimeError, Value as KrlValue};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the key of a map kept by entry holds.
const BY_ENTRY: &[u8] = &[0];

/// About the most memory a pico's cache holds (see the module doc).
pub const CACHE_BYTES: usize = 32 << 20;

/// What a cached key is counted for beyond its key and JSON bytes: the
/// map's slot, the key's and the value's allocations.
pub const CACHE_ENTRY_OVERHEAD: usize = 96;

/// The largest value (bytes of JSON) a pico's cache keeps.
pub const CACHE_VALUE_BYTES: usize = 64 * 1024;

/// A variable's key or an entry's key, decoded.
#[derive(Clone)]
enum Slot {
    /// Not set.
    Absent,
    /// A map kept by entry.
    ByEntry,
    /// A value stored whole.
    Whole(KrlValue),
    /// An entry of a map kept by entry, with its insertion order.
    Entry(u64, KrlValue),
}

enum Cached {
    /// Written by a committed batch, not read since.
    Raw(Option<Vec<u8>>),
    Decoded(Slot),
}

/// A pico's committed entity values (see the module doc).
#[derive(Default)]
pub struct EntCache {
    /// Each value with the bytes it is counted for.
    map: HashMap<Key, (Cached, usize), foldhash::fast::RandomState>,
    bytes: usize,
}

/// The cache as the pico's task and its evaluations share it.
pub type SharedEntCache = Arc<Mutex<EntCache>>;

impl EntCache {
    /// Takes in the entity writes of a batch that has been applied.
    pub fn committed(&mut self, ops: Vec<(Key, Option<Vec<u8>>)>) {
        for (key, op) in ops {
            let len = op.as_ref().map_or(0, Vec::len);
            if len > CACHE_VALUE_BYTES {
                if let Some((_, cost)) = self.map.remove(&key) {
                    self.bytes -= cost;
                }
            } else {
                self.insert(key, Cached::Raw(op), len);
            }
        }
    }

    /// Drops entries other than `keep` until the cache holds at most
    /// three quarters of [`CACHE_BYTES`]: one pass over the map for every
    /// quarter of it filled again, so a key costs O(1) on average.
    fn shrink(&mut self, keep: &Key) {
        let target = CACHE_BYTES / 4 * 3;
        let mut bytes = self.bytes;
        self.map.retain(|k, (_, cost)| {
            if bytes <= target || k == keep {
                return true;
            }
            bytes -= *cost;
            false
        });
        self.bytes = bytes;
    }

    /// Forgets everything (after a batch written outside `committed`).
    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Keeps `value` (`len` bytes of JSON) under `key`; when that would
    /// pass [`CACHE_BYTES`], first drops about a quarter of the others
    /// (whichever the map yields first: no order is kept to pick by).
    fn insert(&mut self, key: Key, value: Cached, len: usize) {
        let cost = key.as_bytes().len() + len + CACHE_ENTRY_OVERHEAD;
        let old = self.map.get(&key).map_or(0, |(_, c)| *c);
        if self.bytes - old + cost > CACHE_BYTES {
            self.shrink(&key);
        }
        if let Some((_, old)) = self.map.insert(key, (value, cost)) {
            self.bytes -= old;
        }
        self.bytes += cost;
    }
}

fn lock(cache: &SharedEntCache) -> std::sync::MutexGuard<'_, EntCache> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn decode_slot(key: &Key, bytes: Option<&[u8]>, entry: bool) -> Result<Slot, StoreError> {
    Ok(match bytes {
        None => Slot::Absent,
        Some(BY_ENTRY) if !entry => Slot::ByEntry,
        Some(b) if entry => {
            let (seq, v): (u64, Value) = decode(key, b)?;
            Slot::Entry(seq, KrlValue::from_json(&v))
        }
        Some(b) => Slot::Whole(KrlValue::from_json(&decode::<Value>(key, b)?)),
    })
}

/// What an entry's key holds: its insertion order and its value.
fn entry_json(seq: u64, value: &KrlValue) -> Value {
    serde_json::json!([seq, value.to_json()])
}

/// The first key of a path and the rest of it (`None`: no rest); `None`
/// for an empty path.
fn split_path(path: &KrlValue) -> Option<(String, Option<KrlValue>)> {
    match path {
        KrlValue::Array(keys) => {
            let (first, rest) = keys.split_first()?;
            let rest = (!rest.is_empty()).then(|| KrlValue::from(rest.to_vec()));
            Some((first.to_krl_string(), rest))
        }
        k => Some((k.to_krl_string(), None)),
    }
}

impl PicoHost {
    /// The same host, with the pico's cache of committed values.
    pub fn with_ents(mut self, cache: SharedEntCache) -> PicoHost {
        self.ents = Some(cache);
        self
    }

    /// A key as this evaluation sees it: its own write, else the cache,
    /// else the store (which fills the cache).
    fn slot(&mut self, key: &Key, entry: bool) -> Result<Slot, RuntimeError> {
        if let Some(op) = self.buf.op(key) {
            return decode_slot(key, op, entry).map_err(storage);
        }
        if let Some(cache) = &self.ents {
            let mut c = lock(cache);
            if let Some((hit, _)) = c.map.get_mut(key) {
                let slot = match &*hit {
                    Cached::Decoded(s) => return Ok(s.clone()),
                    Cached::Raw(b) => decode_slot(key, b.as_deref(), entry).map_err(storage)?,
                };
                *hit = Cached::Decoded(slot.clone());
                return Ok(slot);
            }
        }
        let raw = self.store.get_raw(key).map_err(storage)?;
        let slot = decode_slot(key, raw.as_deref(), entry).map_err(storage)?;
        if let Some(cache) = &self.ents {
            let len = raw.as_ref().map_or(0, |b| b.len());
            if len <= CACHE_VALUE_BYTES {
                lock(cache).insert(key.clone(), Cached::Decoded(slot.clone()), len);
            }
        }
        Ok(slot)
    }

    /// The next insertion order of a map entry: the pico's microsecond
    /// clock, which never goes back (shared with schedule ids).
    fn next_seq(&mut self) -> u64 {
        let now = (crate::clock::now_ms() * 1000.0) as u64;
        self.last_id = now.max(self.last_id + 1);
        self.last_id
    }

    /// The entries of a map kept by entry, in insertion order.
    fn gather(&mut self, key: &Key) -> Result<KrlValue, RuntimeError> {
        let rows = self.buf.scan_raw(&self.store, key).map_err(storage)?;
        let mut entries: Vec<(u64, Arc<str>, KrlValue)> = Vec::with_capacity(rows.len());
        for (k, bytes) in rows {
            let Some((_, mut parts)) = Key::decode(k.as_bytes()) else {
                continue;
            };
            if parts.len() != 4 {
                continue; // the variable's own key
            }
            let name = parts.pop().unwrap_or_default();
            let (seq, v): (u64, Value) = decode(&k, &bytes).map_err(storage)?;
            entries.push((seq, Arc::from(name), KrlValue::from_json(&v)));
        }
        entries.sort_by_key(|e| e.0);
        Ok(KrlValue::from(
            entries
                .into_iter()
                .map(|(_, k, v)| (k, v))
                .collect::<KrlMap>(),
        ))
    }

    /// `ent:name`.
    pub(super) fn ent_read(&mut self, rid: &str, name: &str) -> Result<KrlValue, RuntimeError> {
        let key = Key::entity(&self.pico, rid, name);
        match self.slot(&key, false)? {
            Slot::Absent => Ok(KrlValue::Null),
            Slot::Whole(v) | Slot::Entry(_, v) => Ok(v),
            Slot::ByEntry => self.gather(&key),
        }
    }

    /// `ent:name := value` (`None`: `clear ent:name`).
    pub(super) fn ent_write(
        &mut self,
        rid: &str,
        name: &str,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        let key = Key::entity(&self.pico, rid, name);
        if matches!(self.slot(&key, false)?, Slot::ByEntry) {
            // The entries go; the buffer's write below replaces the key.
            self.buf.remove_prefix(&self.store, &key).map_err(storage)?;
        }
        self.put(key, value)
    }

    /// `ent:name{path}`.
    pub(super) fn ent_read_path(
        &mut self,
        rid: &str,
        name: &str,
        path: &KrlValue,
    ) -> Result<KrlValue, RuntimeError> {
        let key = Key::entity(&self.pico, rid, name);
        match self.slot(&key, false)? {
            Slot::Absent => Ok(KrlValue::Null),
            Slot::Whole(v) | Slot::Entry(_, v) => Ok(path_get(&v, path)),
            Slot::ByEntry => {
                let Some((first, rest)) = split_path(path) else {
                    return self.gather(&key);
                };
                let entry = Key::entity_entry(&self.pico, rid, name, &first);
                let v = match self.slot(&entry, true)? {
                    Slot::Entry(_, v) | Slot::Whole(v) => v,
                    Slot::Absent | Slot::ByEntry => KrlValue::Null,
                };
                Ok(match rest {
                    None => v,
                    Some(rest) => path_get(&v, &rest),
                })
            }
        }
    }

    /// `ent:name{path} := value` (`None`: `clear ent:name{path}`), with
    /// the same result as setting (deleting) the path in the whole value.
    pub(super) fn ent_write_path(
        &mut self,
        rid: &str,
        name: &str,
        path: &KrlValue,
        value: Option<&KrlValue>,
    ) -> Result<(), RuntimeError> {
        let Some((first, rest)) = split_path(path) else {
            // An empty path is the variable itself; deleting it there
            // changes nothing.
            return match value {
                Some(v) => self.ent_write(rid, name, Some(v)),
                None => Ok(()),
            };
        };
        let key = Key::entity(&self.pico, rid, name);
        match self.slot(&key, false)? {
            Slot::ByEntry => {}
            Slot::Absent => {
                if value.is_none() {
                    return Ok(());
                }
                self.buf.put_raw(key, BY_ENTRY.to_vec());
            }
            Slot::Whole(KrlValue::Map(m)) => {
                // Split once: every entry in its own key, in map order.
                self.buf.put_raw(key, BY_ENTRY.to_vec());
                for (k, v) in m.iter() {
                    let seq = self.next_seq();
                    let json = entry_json(seq, v);
                    self.buf
                        .put(Key::entity_entry(&self.pico, rid, name, k), &json);
                }
            }
            Slot::Whole(current) | Slot::Entry(_, current) => {
                // Not a map: the path applies to the whole value.
                let updated = match value {
                    Some(v) => path_set(&current, path, v.clone()),
                    None => path_delete(&current, path),
                };
                return self.put(key, Some(&updated));
            }
        }
        let entry = Key::entity_entry(&self.pico, rid, name, &first);
        let old = match self.slot(&entry, true)? {
            Slot::Entry(seq, v) => Some((seq, v)),
            _ => None,
        };
        match (value, old) {
            (Some(v), old) => {
                let new = match (&rest, &old) {
                    (None, _) => v.clone(),
                    (Some(r), Some((_, o))) => path_set(o, r, v.clone()),
                    (Some(r), None) => path_set(&KrlValue::Null, r, v.clone()),
                };
                let seq = match old {
                    Some((seq, _)) => seq,
                    None => self.next_seq(),
                };
                // `[seq, value]`: the value one level down.
                check_value_depth(&new, 1)?;
                self.buf.put(entry, &(seq, new.as_json()));
            }
            (None, None) => {}
            (None, Some(_)) if rest.is_none() => self.buf.remove(entry),
            (None, Some((seq, o))) => {
                let r = rest.as_ref().expect("a rest path: the arm above took none");
                let json = entry_json(seq, &path_delete(&o, r));
                self.buf.put(entry, &json);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PicoId;
    use crate::store::{Store, WriteBuf};
    use krl_lang::engine::Host;
    use serde_json::json;

    fn text(v: &KrlValue) -> String {
        // Key order matters: compare the text, not the maps.
        serde_json::to_string(&v.to_json()).unwrap()
    }

    fn v(j: Value) -> KrlValue {
        KrlValue::from_json(&j)
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        pico: PicoId,
        cache: SharedEntCache,
        last_id: u64,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            Fixture {
                _dir: dir,
                store,
                pico: PicoId::new("p"),
                cache: SharedEntCache::default(),
                last_id: 0,
            }
        }
        fn host(&self) -> PicoHost {
            PicoHost::new(&self.store, &self.pico, self.last_id).with_ents(self.cache.clone())
        }
        /// Applies the host's writes as the pico's task does.
        fn commit(&mut self, host: PicoHost) {
            self.last_id = host.last_id();
            let (buf, _) = host.finish();
            let ops = buf.entity_ops();
            self.store.apply(buf).unwrap();
            lock(&self.cache).committed(ops);
        }
        /// The keys stored under the variable (itself and its entries).
        fn keys(&self, name: &str) -> usize {
            self.store
                .keys(&Key::entity(&self.pico, "r", name))
                .unwrap()
                .len()
        }
    }

    #[test]
    fn a_path_write_keeps_the_map_by_entry_in_insertion_order() {
        let mut f = Fixture::new();
        let mut h = f.host();
        for (k, n) in [("zed", 1), ("amy", 2), ("10", 3), ("2", 4)] {
            h.ent_put_path("r", "m", &v(json!([k])), Some(&v(json!(n))))
                .unwrap();
        }
        f.commit(h);
        // The map's key plus one key per entry.
        assert_eq!(f.keys("m"), 5);
        let mut h = f.host();
        assert_eq!(
            text(&h.ent_get("r", "m").unwrap()),
            r#"{"zed":1,"amy":2,"10":3,"2":4}"#
        );
        assert_eq!(
            text(&h.ent_get_path("r", "m", &v(json!("amy"))).unwrap()),
            "2"
        );
        assert_eq!(
            text(&h.ent_get_path("r", "m", &v(json!(["nobody"]))).unwrap()),
            "null"
        );
        // Written again, an entry keeps its place; a deeper path builds maps.
        h.ent_put_path("r", "m", &v(json!("zed")), Some(&v(json!(9))))
            .unwrap();
        h.ent_put_path(
            "r",
            "m",
            &v(json!(["amy", "x", "y"])),
            Some(&v(json!(true))),
        )
        .unwrap();
        h.ent_put_path("r", "m", &v(json!(["10"])), None).unwrap();
        assert_eq!(
            text(&h.ent_get("r", "m").unwrap()),
            r#"{"zed":9,"amy":{"x":{"y":true}},"2":4}"#
        );
        f.commit(h);
        let mut h = f.host();
        assert_eq!(
            text(&h.ent_get_path("r", "m", &v(json!(["amy", "x"]))).unwrap()),
            r#"{"y":true}"#
        );
        // A whole write stores the value whole again: the entries go.
        h.ent_put("r", "m", Some(&v(json!({"only": 1})))).unwrap();
        f.commit(h);
        assert_eq!(f.keys("m"), 1);
        let mut h = f.host();
        assert_eq!(text(&h.ent_get("r", "m").unwrap()), r#"{"only":1}"#);
    }

    #[test]
    fn the_cache_keeps_a_phone_trees_callers_and_sheds_a_quarter_when_full() {
        let pico = PicoId::random();
        let key = |i: usize| {
            Key::entity_entry(&pico, "bench.phonetree", "choices", &format!("+1555{i:05}"))
        };
        let json = br#"[1765134000000000,"3"]"#.to_vec();
        let mut cache = EntCache::default();
        for i in 0..100_000 {
            cache.committed(vec![(key(i), Some(json.clone()))]);
        }
        // 100,000 callers fit: none was dropped.
        assert_eq!(cache.map.len(), 100_000);
        assert!(cache.bytes <= CACHE_BYTES);
        // Past the bound: a quarter goes, not everything.
        let per_key = cache.bytes / cache.map.len();
        let fits = CACHE_BYTES / per_key;
        for i in 100_000..fits + 10 {
            cache.committed(vec![(key(i), Some(json.clone()))]);
        }
        assert!(cache.bytes <= CACHE_BYTES);
        assert!(cache.map.len() >= fits / 2, "{} of {fits}", cache.map.len());
        assert!(cache.map.len() < fits, "{} of {fits}", cache.map.len());
        // The last key written is kept, and the count matches the map.
        assert!(cache.map.contains_key(&key(fits + 9)));
        let counted: usize = cache.map.values().map(|(_, c)| *c).sum();
        assert_eq!(counted, cache.bytes);
    }

    #[test]
    fn a_path_write_touches_one_key_whatever_the_size_of_the_map() {
        let mut f = Fixture::new();
        let mut h = f.host();
        let big: serde_json::Map<String, Value> = (0..5000)
            .map(|i| (format!("caller{i}"), json!(i)))
            .collect();
        h.ent_put("r", "m", Some(&v(Value::Object(big)))).unwrap();
        f.commit(h);
        assert_eq!(f.keys("m"), 1, "stored whole");
        // The first path write splits the map, once.
        let mut h = f.host();
        h.ent_put_path("r", "m", &v(json!(["new0"])), Some(&v(json!("1"))))
            .unwrap();
        f.commit(h);
        assert_eq!(f.keys("m"), 5002);
        // From then on a path write writes one key, and a read reads one.
        let mut h = f.host();
        h.ent_put_path("r", "m", &v(json!(["new1"])), Some(&v(json!("2"))))
            .unwrap();
        assert_eq!(
            text(&h.ent_get_path("r", "m", &v(json!(["caller4321"]))).unwrap()),
            "4321"
        );
        let (buf, _) = h.finish();
        assert_eq!(buf.entity_ops().len(), 1);
        f.store.apply(buf).unwrap();
        let mut h = PicoHost::new(&f.store, &f.pico, 0);
        let m = h.ent_get("r", "m").unwrap();
        let KrlValue::Map(m) = m else { panic!("a map") };
        assert_eq!(m.len(), 5002);
        let keys: Vec<&str> = m.keys().map(|k| &**k).collect();
        assert_eq!(keys[0], "caller0");
        assert_eq!(keys[4999], "caller4999");
        assert_eq!(&keys[5000..], ["new0", "new1"]);
    }

    #[test]
    fn a_value_that_is_not_a_map_takes_the_path_whole() {
        let mut f = Fixture::new();
        let mut h = f.host();
        h.ent_put("r", "a", Some(&v(json!([{"id": 1}, {"id": 2}]))))
            .unwrap();
        h.ent_put_path("r", "a", &v(json!([1, "id"])), Some(&v(json!(5))))
            .unwrap();
        f.commit(h);
        assert_eq!(f.keys("a"), 1);
        let mut h = f.host();
        assert_eq!(
            text(&h.ent_get("r", "a").unwrap()),
            r#"[{"id":1},{"id":5}]"#
        );
    }

    #[test]
    fn an_evaluation_that_is_not_committed_leaves_the_cache_as_it_was() {
        let mut f = Fixture::new();
        let mut h = f.host();
        h.ent_put("r", "n", Some(&v(json!(1)))).unwrap();
        h.ent_put_path("r", "m", &v(json!("k")), Some(&v(json!(1))))
            .unwrap();
        f.commit(h);
        // Read (fills the cache), write, then drop: a failed event.
        let mut h = f.host();
        assert_eq!(text(&h.ent_get("r", "n").unwrap()), "1");
        h.ent_put("r", "n", Some(&v(json!(2)))).unwrap();
        h.ent_put_path("r", "m", &v(json!("k")), Some(&v(json!(2))))
            .unwrap();
        assert_eq!(text(&h.ent_get("r", "n").unwrap()), "2");
        drop(h);
        let mut h = f.host();
        assert_eq!(text(&h.ent_get("r", "n").unwrap()), "1");
        assert_eq!(text(&h.ent_get("r", "m").unwrap()), r#"{"k":1}"#);
        // Committed writes are what the next evaluation reads, from the
        // cache; a store written behind the cache's back is not seen,
        // which is why only the pico's task writes its variables.
        h.ent_put("r", "n", Some(&v(json!(3)))).unwrap();
        f.commit(h);
        let mut behind = WriteBuf::new();
        behind.put(Key::entity(&f.pico, "r", "n"), &json!(99));
        f.store.apply(behind).unwrap();
        let mut h = f.host();
        assert_eq!(text(&h.ent_get("r", "n").unwrap()), "3");
        lock(&f.cache).clear();
        assert_eq!(text(&h.ent_get("r", "n").unwrap()), "99");
    }

    /// Random path and whole writes, commits and dropped evaluations give
    /// the same values as the whole-value semantics (`Host`'s defaults).
    #[test]
    fn maps_by_entry_read_as_whole_values_would() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut f = Fixture::new();
        let keys = ["a", "b", "c", "0", "1"];
        let names = ["m", "n"];
        let mut committed: [KrlValue; 2] = Default::default();
        let mut current = committed.clone();
        let mut h = f.host();
        for step in 0..3000 {
            let i = rnd(2) as usize;
            let name = names[i];
            let path = if rnd(3) == 0 {
                v(json!([keys[rnd(5) as usize], keys[rnd(5) as usize]]))
            } else if rnd(2) == 0 {
                v(json!([keys[rnd(5) as usize]]))
            } else {
                v(json!(keys[rnd(5) as usize]))
            };
            match rnd(20) {
                0..=9 => {
                    let val = v(json!(step));
                    h.ent_put_path("r", name, &path, Some(&val)).unwrap();
                    current[i] = path_set(&current[i], &path, val);
                }
                10..=12 => {
                    h.ent_put_path("r", name, &path, None).unwrap();
                    if !current[i].is_null() {
                        current[i] = path_delete(&current[i], &path);
                    }
                }
                13 => {
                    let val = match rnd(3) {
                        0 => v(json!({"b": step, "a": [1, 2]})),
                        1 => v(json!([step, {"x": 1}])),
                        _ => v(json!("text")),
                    };
                    h.ent_put("r", name, Some(&val)).unwrap();
                    current[i] = val;
                }
                14 => {
                    h.ent_put("r", name, None).unwrap();
                    current[i] = KrlValue::Null;
                }
                15..=16 => {
                    f.commit(h);
                    committed = current.clone();
                    h = f.host();
                }
                17 => {
                    drop(h);
                    current = committed.clone();
                    h = f.host();
                }
                _ => {
                    let got = h.ent_get_path("r", name, &path).unwrap();
                    assert_eq!(
                        text(&got),
                        text(&path_get(&current[i], &path)),
                        "step {step}"
                    );
                }
            }
            for (j, n) in names.iter().enumerate() {
                assert_eq!(
                    text(&h.ent_get("r", n).unwrap()),
                    text(&current[j]),
                    "step {step}, ent:{n}"
                );
            }
        }
    }
}
