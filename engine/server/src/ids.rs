//! Identifier newtypes (`PicoId`, `Eci`, `Rid`, `Eid`, `TxnId`) and the
//! random ids the engine hands out. Uses: rand, serde.
//!
//! Ids are base62 drawn from a CSPRNG (`rand`'s `thread_rng`, ChaCha
//! seeded from the OS), so an eci is unguessable and can act as a
//! capability, as in the Pico Engine. Eids and transaction ids are 22
//! random characters (about 131 bits). Pico ids and ecis are 25
//! characters, like the Pico Engine's cuids: 8 of the time they were
//! made (milliseconds since 1970, so they sort by creation) and 17 random
//! ones (about 101 bits). Sorting by creation keeps a set-up's writes at
//! the end of the store's key ranges instead of all over them.

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::fmt;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base62 characters, uniform: each comes from one random
/// byte, and the bytes 248 and above (past 4 x 62) are drawn again.
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut out = Vec::with_capacity(len);
    let mut pool = [0u8; 32];
    while out.len() < len {
        rng.fill(&mut pool[..]);
        for &b in &pool {
            if b < 248 && out.len() < len {
                out.push(BASE62[usize::from(b % 62)]);
            }
        }
    }
    String::from_utf8(out).expect("base62 is ASCII")
}

/// 25 base62 characters: the time in milliseconds (8, most significant
/// first, so ids sort by it until the year 8900), then 17 random ones.
pub fn time_ordered_base62() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut out = [0u8; 8];
    let mut t = ms;
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(t % 62) as usize];
        t /= 62;
    }
    let mut id = String::with_capacity(25);
    id.extend(out.iter().map(|&b| b as char));
    id.push_str(&random_base62(17));
    id
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id received from outside (a URL, a record).
            pub fn new(s: impl Into<String>) -> $name {
                $name(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A pico's id.
    PicoId
);
id_type!(
    /// An event channel identifier: the address of a channel, and the
    /// capability to use it.
    Eci
);
id_type!(
    /// A ruleset id, e.g. `io.example.hello`.
    Rid
);
id_type!(
    /// An event id: the caller's, or one the engine assigns for `none`.
    Eid
);
id_type!(
    /// A transaction id: one per event or query the engine processes.
    TxnId
);

impl PicoId {
    /// A fresh pico id ([`time_ordered_base62`]).
    pub fn random() -> PicoId {
        PicoId(time_ordered_base62())
    }
}

impl Eci {
    /// A fresh eci ([`time_ordered_base62`]).
    pub fn random() -> Eci {
        Eci(time_ordered_base62())
    }
}

impl Eid {
    /// A fresh random eid, for events sent with eid `none`.
    pub fn random() -> Eid {
        Eid(random_base62(22))
    }
}

impl TxnId {
    /// A fresh random transaction id.
    pub fn random() -> TxnId {
        TxnId(random_base62(22))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_base62_chars_and_differ() {
        let a = Eid::random();
        let b = Eid::random();
        assert_eq!(a.as_str().len(), 22);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        let a = Eci::random();
        let b = Eci::random();
        assert_eq!(a.as_str().len(), 25);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_ne!(a.as_str()[8..], b.as_str()[8..]);
    }

    #[test]
    fn pico_ids_and_ecis_sort_by_when_they_were_made() {
        let first = PicoId::random();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = PicoId::random();
        assert!(first < second, "{first} then {second}");
        // The prefix is the time in base62, most significant first.
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let prefix = &second.as_str()[..8];
        let decoded = prefix.bytes().fold(0u64, |n, c| {
            n * 62 + BASE62.iter().position(|&b| b == c).unwrap() as u64
        });
        assert!(
            decoded <= ms && ms - decoded < 60_000,
            "{prefix} = {decoded}, now {ms}"
        );
    }

    #[test]
    fn random_characters_are_uniform_over_base62() {
        // 80,000 characters: 1,290 of each expected (sd about 36). A plain
        // `byte % 62` would give the first 8 characters a quarter more.
        let mut counts = [0u32; 62];
        for _ in 0..(80_000 / 20) {
            for c in random_base62(20).bytes() {
                counts[BASE62.iter().position(|&b| b == c).unwrap()] += 1;
            }
        }
        for (i, n) in counts.iter().enumerate() {
            assert!(
                (1_100..1_480).contains(n),
                "{} drawn {n} times",
                BASE62[i] as char
            );
        }
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = PicoId::new("abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        let back: PicoId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back, id);
    }
}
