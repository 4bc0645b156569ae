//! Durable acknowledgements: after sled has written its log, make the
//! data folder's files reach stable storage before anyone is told their
//! writes are done.
//!
//! sled 0.34 ends a flush with `sync_file_range` (its non-io_uring write
//! path), which starts write-back of the log's pages but neither waits
//! for the disk's write cache nor writes the file's metadata: a `kill -9`
//! loses nothing, a power cut or kernel crash can. krl's sled
//! (vendor/sled/KRL-PATCH.md) therefore ends each flush with an
//! `fdatasync` of its log and syncs the blob and snapshot files it makes.
//! What it
//! made before that — the `db` and `conf` files and their names at
//! start-up — is what [`DirSync::sync`] covers: an `fdatasync` of sled's
//! `db` file, of every other file of the folder that is new or changed
//! since the last sync (`conf`, `snap.*`, `blobs/*`), and an `fsync` of
//! the folder (and `blobs/`) when a file appeared or went, so a new
//! file's name is durable too. The store runs it after its first group
//! flush (`store::sync_folder`).
//!
//! `--durability relaxed` (docs/operating.md) leaves it out: answers then
//! survive a crash of the engine (`kill -9`), not of the machine.
//! Names nothing of this crate.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// What an acknowledgement promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// An answered event's writes are on stable storage (`fdatasync`).
    #[default]
    Full,
    /// Written to the operating system only (sled's own flush): survives
    /// the engine's crash, not the machine's.
    Relaxed,
}

/// `--durability` of `krl serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct DurabilityArgs {
    /// full: an event is answered once its writes are on stable storage
    /// (fdatasync after each group commit); relaxed: once they are written
    /// to the operating system (survives kill -9, not a power cut).
    #[arg(
        long,
        env = "KRL_DURABILITY",
        value_enum,
        default_value = "full",
        hide_possible_values = true
    )]
    pub durability: Durability,
}

/// Syncs issued by every [`DirSync`] of this process (tests, logs).
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// How many `fdatasync`/`fsync` calls this process has made for
/// durability: the data-folder syncs here, and sled's log writes
/// (`sled::log_syncs`, vendor/sled/KRL-PATCH.md).
pub fn sync_calls() -> u64 {
    SYNCS.load(Ordering::SeqCst) + sled::log_syncs()
}

/// The state of one data folder's syncs: the `db` file kept open, and
/// what every other file looked like when last synced.
pub struct DirSync {
    dir: PathBuf,
    db: Option<File>,
    /// Per folder (the data folder, `blobs/`): file name → (length,
    /// modification time) at its last sync.
    seen: HashMap<PathBuf, HashMap<PathBuf, (u64, Option<SystemTime>)>>,
    /// `fdatasync`/`fsync` calls this one has made.
    calls: u64,
}

fn sync_file(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    f.sync_data()?;
    SYNCS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn sync_dir(path: &Path) -> io::Result<()> {
    // A directory's fsync makes its entries (new, renamed, removed files)
    // durable.
    let f = File::open(path)?;
    f.sync_all()?;
    SYNCS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

impl DirSync {
    /// For the data folder `dir` (sled's files directly inside it).
    pub fn new(dir: &Path) -> DirSync {
        DirSync {
            dir: dir.to_path_buf(),
            db: None,
            seen: HashMap::new(),
            calls: 0,
        }
    }

    /// How many `fdatasync`/`fsync` calls this one has made.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Makes everything sled has written so far durable (see the module
    /// doc). The first call syncs every file.
    pub fn sync(&mut self) -> io::Result<()> {
        let db_path = self.dir.join("db");
        if self.db.is_none() {
            self.db = Some(File::open(&db_path)?);
        }
        if let Some(db) = &self.db {
            db.sync_data()?;
            SYNCS.fetch_add(1, Ordering::SeqCst);
            self.calls += 1;
        }
        let blobs = self.dir.join("blobs");
        for folder in [self.dir.clone(), blobs] {
            if !folder.is_dir() {
                continue;
            }
            let before = self.seen.remove(&folder).unwrap_or_default();
            let mut now = HashMap::with_capacity(before.len());
            let mut names_changed = false;
            for entry in std::fs::read_dir(&folder)? {
                let entry = entry?;
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // Removed meanwhile (sled drops old snapshots).
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if !meta.is_file() {
                    continue;
                }
                let path = entry.path();
                let stamp = (meta.len(), meta.modified().ok());
                let known = before.get(&path);
                if known.is_none() {
                    names_changed = true;
                }
                if path != db_path && known != Some(&stamp) {
                    match sync_file(&path) {
                        Ok(()) => self.calls += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                now.insert(path, stamp);
            }
            if names_changed || before.keys().any(|k| !now.contains_key(k)) {
                sync_dir(&folder)?;
                self.calls += 1;
            }
            self.seen.insert(folder, now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_the_db_every_time_and_other_files_when_they_change() {
        let dir = std::env::temp_dir().join(format!("krl-durable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("blobs")).unwrap();
        std::fs::write(dir.join("db"), b"log").unwrap();
        std::fs::write(dir.join("conf"), b"c").unwrap();
        let mut s = DirSync::new(&dir);
        // db, conf and the folder (new names; blobs/ is empty)
        s.sync().unwrap();
        assert_eq!(s.calls(), 3);
        // Nothing new: only the db.
        s.sync().unwrap();
        assert_eq!(s.calls(), 4);
        // A new blob: db, the blob and its folder.
        std::fs::write(dir.join("blobs").join("1"), b"blob").unwrap();
        s.sync().unwrap();
        assert_eq!(s.calls(), 7);
        // A changed conf and a removed blob: db, conf, blobs/.
        std::fs::write(dir.join("conf"), b"changed!").unwrap();
        std::fs::remove_file(dir.join("blobs").join("1")).unwrap();
        s.sync().unwrap();
        assert_eq!(s.calls(), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
