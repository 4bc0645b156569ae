//! Static files (`krl serve --static DIR`): the folder served under
//! `/static/<path>`, path safety, content types, and fingerprints (the
//! first 16 hex digits of the sha256 of a file's content) for
//! `twilio:url_for` and the `?v=` cache rule, cached by (path, mtime,
//! size) so the event path does not hash a file on every call. Uses:
//! `effects`, sha2. The host reads it (`twilio:url_for`) only through
//! [`crate::effects::StaticUrls`], which [`StaticFiles`] implements
//! (`engine::open` plugs it in), so the folder sits above `dispatch`.
//!
//! [`routes`] serves the folder over HTTP (`/static/...`,
//! `/static-loop/...`). See docs/twilio.md ("Audio files") and
//! docs/server.md.

pub mod routes;

use crate::effects::StaticUrls;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Why a static file cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StaticError {
    /// `..`, an absolute path, an empty path, a symlink leaving the folder.
    #[error("path not allowed: {0:?}")]
    Unsafe(String),
    /// No such (regular) file.
    #[error("no such file: {0:?}")]
    Missing(String),
}

/// A cached fingerprint: the file's mtime and size when it was hashed.
type Stamp = (Option<SystemTime>, u64, String);

/// The static folder, its public base URL and the fingerprint cache.
#[derive(Debug)]
pub struct StaticFiles {
    /// The folder, canonical.
    dir: PathBuf,
    /// Public base URL, without a trailing slash.
    public_url: String,
    /// Canonical file path → (mtime, size, fingerprint).
    cache: Mutex<HashMap<PathBuf, Stamp>>,
}

/// A file found under the folder.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its canonical path.
    pub path: PathBuf,
    /// Its fingerprint (16 hex digits).
    pub hash: String,
}

impl StaticFiles {
    /// The folder `dir` (must exist), served at `public_url/static/`.
    pub fn new(dir: &Path, public_url: &str) -> std::io::Result<StaticFiles> {
        Ok(StaticFiles {
            dir: dir.canonicalize()?,
            public_url: public_url.trim_end_matches('/').to_string(),
            cache: Mutex::default(),
        })
    }

    /// The canonical path of `rel` inside the folder: only plain path
    /// components, and after resolving symlinks still inside the folder.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, StaticError> {
        let unsafe_ = || StaticError::Unsafe(rel.to_string());
        if rel.is_empty() || rel.contains('\\') || rel.contains('\0') {
            return Err(unsafe_());
        }
        let p = Path::new(rel);
        if !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(unsafe_());
        }
        let full = self
            .dir
            .join(p)
            .canonicalize()
            .map_err(|_| StaticError::Missing(rel.to_string()))?;
        if !full.starts_with(&self.dir) {
            return Err(unsafe_());
        }
        if !full.is_file() {
            return Err(StaticError::Missing(rel.to_string()));
        }
        Ok(full)
    }

    /// `rel` resolved, with its current fingerprint (hashed again only
    /// when its mtime or size changed).
    pub fn find(&self, rel: &str) -> Result<Found, StaticError> {
        let path = self.resolve(rel)?;
        let missing = || StaticError::Missing(rel.to_string());
        let meta = std::fs::metadata(&path).map_err(|_| missing())?;
        let (mtime, size) = (meta.modified().ok(), meta.len());
        if let Some((m, s, h)) = self.cache.lock().expect("cache lock").get(&path) {
            if *m == mtime && *s == size {
                return Ok(Found {
                    path,
                    hash: h.clone(),
                });
            }
        }
        let bytes = std::fs::read(&path).map_err(|_| missing())?;
        let hash = fingerprint(&bytes);
        self.cache
            .lock()
            .expect("cache lock")
            .insert(path.clone(), (mtime, size, hash.clone()));
        Ok(Found { path, hash })
    }

    /// The absolute fingerprinted URL of `rel`:
    /// `PUBLIC/static/<rel>?v=<hash>`.
    pub fn url_for(&self, rel: &str) -> Result<String, StaticError> {
        let f = self.find(rel)?;
        Ok(format!(
            "{}/static/{}?v={}",
            self.public_url,
            encode_path(rel),
            f.hash
        ))
    }

    /// How many fingerprints are cached (tests).
    pub fn cached(&self) -> usize {
        self.cache.lock().expect("cache lock").len()
    }
}

/// What the hosts see of the folder (`twilio:url_for`).
impl StaticUrls for StaticFiles {
    fn url_for(&self, path: &str) -> Result<String, String> {
        StaticFiles::url_for(self, path).map_err(|e| e.to_string())
    }
}

/// The first 16 hex digits of the sha256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Percent-encodes each segment of a relative path (slashes kept).
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Content-Type of a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "gsm" => "audio/x-gsm",
        "ulaw" | "mulaw" => "audio/basic",
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, StaticFiles) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("static");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("intro.mp3"), b"ID3 fake").unwrap();
        std::fs::write(dir.join("sub/a b.wav"), b"RIFF").unwrap();
        std::fs::write(t.path().join("secret.txt"), b"secret").unwrap();
        let s = StaticFiles::new(&dir, "https://x.example/").unwrap();
        (t, s)
    }

    #[test]
    fn path_safety() {
        let (t, s) = setup();
        assert!(s.resolve("intro.mp3").is_ok());
        assert!(s.resolve("sub/a b.wav").is_ok());
        for bad in [
            "../secret.txt",
            "sub/../../secret.txt",
            "sub/../intro.mp3",
            "./intro.mp3",
            "/etc/passwd",
            "",
            "..\\secret.txt",
        ] {
            assert!(
                matches!(s.resolve(bad), Err(StaticError::Unsafe(_))),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            s.resolve("nope.mp3"),
            Err(StaticError::Missing(_))
        ));
        assert!(matches!(s.resolve("sub"), Err(StaticError::Missing(_))));
        #[cfg(unix)]
        {
            let dir = t.path().join("static");
            std::os::unix::fs::symlink(t.path().join("secret.txt"), dir.join("out.txt")).unwrap();
            std::os::unix::fs::symlink(dir.join("intro.mp3"), dir.join("in.mp3")).unwrap();
            assert!(matches!(s.resolve("out.txt"), Err(StaticError::Unsafe(_))));
            assert!(s.resolve("in.mp3").is_ok());
        }
    }

    #[test]
    fn fingerprint_cached_and_follows_changes() {
        let (t, s) = setup();
        let url = s.url_for("intro.mp3").unwrap();
        let h = fingerprint(b"ID3 fake");
        assert_eq!(h.len(), 16);
        assert_eq!(url, format!("https://x.example/static/intro.mp3?v={h}"));
        assert_eq!(s.cached(), 1);
        // a cached entry is used: poison it, same mtime and size → same answer
        {
            let path = s.resolve("intro.mp3").unwrap();
            let mut c = s.cache.lock().unwrap();
            c.get_mut(&path).unwrap().2 = "cachedcachedcach".into();
        }
        assert_eq!(s.find("intro.mp3").unwrap().hash, "cachedcachedcach");
        // a change of size (and mtime) → hashed again
        std::fs::write(t.path().join("static/intro.mp3"), b"ID3 other content").unwrap();
        let h2 = s.find("intro.mp3").unwrap().hash;
        assert_eq!(h2, fingerprint(b"ID3 other content"));
        assert_eq!(s.cached(), 1);
        assert_eq!(
            s.url_for("sub/a b.wav").unwrap(),
            format!(
                "https://x.example/static/sub/a%20b.wav?v={}",
                fingerprint(b"RIFF")
            )
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a.MP3")), "audio/mpeg");
        assert_eq!(content_type(Path::new("a.wav")), "audio/wav");
        assert_eq!(content_type(Path::new("a.ogg")), "audio/ogg");
        assert_eq!(
            content_type(Path::new("a.txt")),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }
}
