//! End-to-end tests live in tests/tests/; this library holds what they
//! share: finding the `krl` binary and scratch directories.
//!
//! Why a crate of its own, and how it finds the binary: docs/layout.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (this crate is `tests/` in it).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
}

/// The `krl` binary, built for the profile the tests were built with.
///
/// `CARGO_BIN_EXE_krl` exists only for tests of the crate that owns the
/// binary, so this crate asks cargo to build it (a no-op when it is up to
/// date, as after `cargo test --workspace`) and takes it from the target
/// directory the test executable runs from. `KRL_BIN` overrides all that,
/// for a binary built elsewhere (another target triple, an installed one).
pub fn krl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("KRL_BIN") {
            return PathBuf::from(bin);
        }
        // The test executable is target/<profile dir>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("the test executable has a path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executables live in target/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let target_dir = profile_dir.parent().expect("the profile dir has a parent");
        // Cargo sets CARGO when it builds and when it runs tests; fall
        // back to the one on PATH.
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(Into::into))
            .unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "krl",
                "--bin",
                "krl",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("running cargo to build krl");
        assert!(status.success(), "cargo build -p krl failed: {status}");
        profile_dir.join(format!("krl{}", std::env::consts::EXE_SUFFIX))
    })
}

/// A `krl` command, run from the workspace root.
pub fn krl() -> Command {
    let mut cmd = Command::new(krl_bin());
    cmd.current_dir(workspace_root());
    cmd
}

/// A fresh, empty directory under the system's temporary directory,
/// removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A directory named after `name` and this process.
    pub fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("krl-tests-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        ScratchDir(dir)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("writing a scratch file");
        path
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
