//! Registered rulesets: KRL is parsed, checked and compiled once, at
//! registration (and again at start-up, from the stored source), and kept
//! in memory as an `Arc<Registered>` that picos share; a stored ruleset
//! that no longer compiles is kept as [`Broken`]. Uses: krl_lang
//! (`engine::compile`), `store`, `ids`, sha2, dashmap.

use crate::ids::Rid;
use crate::store::{RulesetRecord, Store, StoreError};
use dashmap::DashMap;
use krl_lang::engine::{compile_with_warnings, Ruleset};
use krl_lang::syntax::{Diagnostic, LineIndex};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The version of a ruleset whose meta names none (as in the Pico Engine).
pub const DRAFT: &str = "draft";

/// A ruleset ready to install.
pub struct Registered {
    /// Its id.
    pub rid: Rid,
    /// `meta { version "..." }` or [`DRAFT`].
    pub version: String,
    /// sha256 of the source, lowercase hex.
    pub hash: String,
    /// The source.
    pub source: String,
    /// When it was registered (ms since the Unix epoch).
    pub registered_ms: u64,
    /// The URL it was registered from (`file://`, `http(s)://`), if any.
    pub url: Option<String>,
    /// The compiler's warnings (`line:col: message`).
    pub warnings: Vec<String>,
    /// The compiled ruleset, shared by every pico that installs it.
    pub ruleset: Arc<Ruleset>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("rid", &self.rid)
            .field("version", &self.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Registered {
    /// Parses, checks and compiles `source`. The error is the first error
    /// found, with its line and column.
    pub fn prepare(source: &str, registered_ms: u64) -> Result<Registered, SourceError> {
        let (ruleset, warnings) =
            compile_with_warnings(source).map_err(|errors| match errors.first() {
                Some(d) => SourceError::from_diagnostic(source, d),
                None => SourceError {
                    message: "the ruleset does not compile".into(),
                    line: 1,
                    col: 1,
                },
            })?;
        Ok(Registered {
            rid: Rid::new(ruleset.rid()),
            version: ruleset
                .compiled
                .version
                .clone()
                .unwrap_or_else(|| DRAFT.to_string()),
            hash: sha256_hex(source),
            source: source.to_string(),
            registered_ms,
            url: None,
            warnings: warnings
                .iter()
                .map(|d| {
                    let e = SourceError::from_diagnostic(source, d);
                    format!("{}:{}: {}", e.line, e.col, e.message)
                })
                .collect(),
            ruleset,
        })
    }

    /// The same, registered from `url`.
    pub fn from_url(mut self, url: Option<String>) -> Registered {
        self.url = url;
        self
    }

    /// The record the store keeps.
    pub fn record(&self) -> RulesetRecord {
        RulesetRecord {
            rid: self.rid.clone(),
            version: self.version.clone(),
            hash: self.hash.clone(),
            source: self.source.clone(),
            registered_ms: self.registered_ms,
            url: self.url.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Does `meta { shares }` name `function`?
    pub fn shares(&self, function: &str) -> bool {
        self.ruleset
            .compiled
            .shares
            .iter()
            .any(|s| &**s == function)
    }

    /// The rids this ruleset uses as modules.
    pub fn uses(&self) -> impl Iterator<Item = &str> {
        self.ruleset.compiled.uses.iter().map(|u| &*u.rid)
    }
}

/// Why KRL source was refused: message, line, column.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct SourceError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl SourceError {
    fn from_diagnostic(source: &str, d: &Diagnostic) -> SourceError {
        let (line, col) = LineIndex::new(source).line_col(source, d.span.start as usize);
        SourceError {
            message: d.message.clone(),
            line,
            col,
        }
    }
}

/// sha256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stored ruleset that no longer compiles (its source was written by an
/// older engine, or the store was edited), or whose stored record does not
/// even decode. It stays in the store and in the registry, marked broken:
/// the admin API shows it with its error, picos that have it installed
/// keep their install and run their other rulesets, and queries to it
/// answer the error. Registering the rid again repairs it.
#[derive(Debug)]
pub struct Broken {
    /// Its id (from the store's key).
    pub rid: Rid,
    /// The stored record, when it decodes.
    pub record: Option<RulesetRecord>,
    /// Why it does not compile, with line and column (`4:19: ...`).
    pub error: String,
}

/// What the registry knows of a rid.
#[derive(Clone, Debug)]
pub enum Entry {
    /// Compiled, ready to install.
    Ready(Arc<Registered>),
    /// Stored, but it does not compile.
    Broken(Arc<Broken>),
}

impl Entry {
    /// The rid.
    pub fn rid(&self) -> &Rid {
        match self {
            Entry::Ready(r) => &r.rid,
            Entry::Broken(b) => &b.rid,
        }
    }
}

/// The meta key (`M`) a registration rewrites, for a cluster's other
/// nodes to notice and read the rulesets again (`cluster`).
pub const CHANGED: &str = "rulesets_changed";

/// All registered rulesets, by rid. Reads take no global lock (sharded
/// map); writers are serialised by the engine's admin lock.
#[derive(Default)]
pub struct Registry {
    map: DashMap<Rid, Arc<Registered>>,
    broken: DashMap<Rid, Arc<Broken>>,
}

impl Registry {
    /// Loads every stored ruleset, compiling it again. One that no longer
    /// compiles (the grammar changed, the store was edited) is kept as
    /// [`Broken`], with an error in the log: it stays in the store and is
    /// repaired by registering it again.
    pub fn load(store: &Store) -> Result<Registry, StoreError> {
        let registry = Registry::default();
        for (rid, rec) in store.ruleset_records()? {
            let (record, error) = match rec {
                Err(e) => (None, e.to_string()),
                Ok(rec) => match Registered::prepare(&rec.source, rec.registered_ms) {
                    Ok(r) if r.rid == rid => {
                        registry.insert(Arc::new(r.from_url(rec.url.clone())));
                        continue;
                    }
                    Ok(r) => {
                        let e = format!("the stored source is ruleset {}, not {rid}", r.rid);
                        (Some(rec), e)
                    }
                    Err(e) => (Some(rec), e.to_string()),
                },
            };
            tracing::error!(
                rid = %rid,
                "stored ruleset {rid} no longer compiles, marked broken until it is \
                 registered again: {error}"
            );
            registry
                .broken
                .insert(rid.clone(), Arc::new(Broken { rid, record, error }));
        }
        Ok(registry)
    }

    /// Reads the stored rulesets again and takes in those registered (or
    /// registered again) by another node of a cluster since.
    pub fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        for (rid, rec) in store.ruleset_records()? {
            let Ok(rec) = rec else { continue };
            let known = self.get(&rid).map(|r| (r.registered_ms, r.hash.clone()));
            if known
                .as_ref()
                .is_some_and(|(ms, h)| *ms == rec.registered_ms && *h == rec.hash)
            {
                continue;
            }
            match Registered::prepare(&rec.source, rec.registered_ms) {
                Ok(r) if r.rid == rid => self.insert(Arc::new(r.from_url(rec.url.clone()))),
                Ok(_) | Err(_) => {
                    tracing::error!(rid = %rid, "a ruleset another node registered does not compile here");
                }
            }
        }
        Ok(())
    }

    /// A ruleset by rid (`None` when unknown or broken).
    pub fn get(&self, rid: &Rid) -> Option<Arc<Registered>> {
        self.map.get(rid).map(|r| r.value().clone())
    }

    /// A broken ruleset by rid.
    pub fn broken(&self, rid: &Rid) -> Option<Arc<Broken>> {
        self.broken.get(rid).map(|r| r.value().clone())
    }

    /// What is known of `rid`, ready or broken.
    pub fn entry(&self, rid: &Rid) -> Option<Entry> {
        self.get(rid)
            .map(Entry::Ready)
            .or_else(|| self.broken(rid).map(Entry::Broken))
    }

    /// Can `new` be registered, as far as `use module` goes (language
    /// 8.1)? Every module it uses must be registered (and compile), and
    /// no dependency cycle may form with the rulesets registered now
    /// (`new` replacing its own rid). The error is the reference's
    /// message: `Dependant module not loaded: <rid>` or `Dependency Cycle
    /// Found: a -> b -> a`.
    pub fn check_uses(&self, new: &Registered) -> Result<(), String> {
        for u in new.uses() {
            if u == new.rid.as_str() {
                continue; // a cycle of one, reported below
            }
            let rid = Rid::new(u);
            if self.get(&rid).is_none() {
                return Err(match self.broken(&rid) {
                    Some(b) => format!(
                        "Dependant module not loaded: {u} (it is broken: {})",
                        b.error
                    ),
                    None => format!("Dependant module not loaded: {u}"),
                });
            }
        }
        // What is registered has no cycle (each registration was checked),
        // so a cycle now runs through `new`: look for a way back to it.
        let uses_of = |rid: &str| -> Vec<String> {
            if rid == new.rid.as_str() {
                new.uses().map(str::to_string).collect()
            } else {
                self.get(&Rid::new(rid))
                    .map(|r| r.uses().map(str::to_string).collect())
                    .unwrap_or_default()
            }
        };
        let mut path = vec![new.rid.to_string()];
        let mut seen = std::collections::HashSet::new();
        // Depth-first, iteratively: each frame is (rid, its modules, next).
        let mut stack = vec![(uses_of(new.rid.as_str()), 0usize)];
        while let Some((mods, next)) = stack.last_mut() {
            let Some(m) = mods.get(*next).cloned() else {
                stack.pop();
                path.pop();
                continue;
            };
            *next += 1;
            if m == new.rid.as_str() {
                path.push(m);
                return Err(format!("Dependency Cycle Found: {}", path.join(" -> ")));
            }
            if seen.insert(m.clone()) {
                stack.push((uses_of(&m), 0));
                path.push(m);
            }
        }
        Ok(())
    }

    /// Adds or replaces a ruleset (repairing a broken one).
    pub fn insert(&self, r: Arc<Registered>) {
        self.broken.remove(&r.rid);
        self.map.insert(r.rid.clone(), r);
    }

    /// The ruleset registered from `url` (`None` when none is).
    pub fn by_url(&self, url: &str) -> Option<Arc<Registered>> {
        self.map
            .iter()
            .find(|r| r.value().url.as_deref() == Some(url))
            .map(|r| r.value().clone())
    }

    /// All rulesets that compile, sorted by rid.
    pub fn list(&self) -> Vec<Arc<Registered>> {
        let mut all: Vec<_> = self.map.iter().map(|r| r.value().clone()).collect();
        all.sort_by(|a, b| a.rid.cmp(&b.rid));
        all
    }

    /// Every ruleset, broken ones too, sorted by rid.
    pub fn entries(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .map
            .iter()
            .map(|r| Entry::Ready(r.value().clone()))
            .chain(self.broken.iter().map(|b| Entry::Broken(b.value().clone())))
            .collect();
        all.sort_by(|a, b| a.rid().cmp(b.rid()));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"ruleset io.example.good {
  meta {
    version "1.2"
    shares hello
  }
  global {
    hello = function(name) { "Hello " + name }
  }
  rule hi {
    select when echo hello
    send_directive("hi")
  }
}
"#;

    #[test]
    fn prepare_reads_rid_version_shares_and_hashes() {
        let r = Registered::prepare(GOOD, 0).unwrap();
        assert_eq!(r.rid.as_str(), "io.example.good");
        assert_eq!(r.version, "1.2");
        assert!(r.shares("hello"));
        assert!(!r.shares("hi"));
        assert_eq!(r.hash, sha256_hex(GOOD));
        assert_eq!(r.hash.len(), 64);
    }

    #[test]
    fn version_defaults_to_draft() {
        let r = Registered::prepare("ruleset a.b { }", 0).unwrap();
        assert_eq!(r.version, DRAFT);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = Registered::prepare(
            "ruleset a.b {\n  rule r {\n    select when x y\n    pre { x = 1 + }\n  }\n}\n",
            0,
        )
        .unwrap_err();
        assert_eq!((e.line, e.col), (4, 19), "{e}");
    }

    fn module(rid: &str, uses: &[&str]) -> Registered {
        let meta: String = uses
            .iter()
            .map(|u| format!("use module {u} alias m{}\n", u.len()))
            .collect();
        Registered::prepare(&format!("ruleset {rid} {{ meta {{ {meta} }} }}"), 0).unwrap()
    }

    #[test]
    fn uses_need_registered_modules_and_no_cycle() {
        let reg = Registry::default();
        let err = reg.check_uses(&module("a.b", &["m.x"])).unwrap_err();
        assert_eq!(err, "Dependant module not loaded: m.x");
        reg.insert(Arc::new(module("m.x", &[])));
        reg.check_uses(&module("a.b", &["m.x"])).unwrap();
        reg.insert(Arc::new(module("a.b", &["m.x"])));
        reg.insert(Arc::new(module("c.d", &["a.b"])));
        assert_eq!(
            reg.check_uses(&module("m.x", &["c.d"])).unwrap_err(),
            "Dependency Cycle Found: m.x -> c.d -> a.b -> m.x"
        );
        assert_eq!(
            reg.check_uses(&module("m.x", &["m.x"])).unwrap_err(),
            "Dependency Cycle Found: m.x -> m.x"
        );
        // A diamond is no cycle.
        reg.check_uses(&module("e.f", &["a.b", "c.d"])).unwrap();
    }

    #[test]
    fn sha256_of_empty_text() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
