//! The end-to-end tests are one test binary, tests/tests/e2e (a module
//! per area); this library holds what they share, compiled once: finding
//! the `krl` binary, scratch directories, a running `krl serve`
//! ([`Server`]) and its client ([`api`]), fake HTTP servers
//! ([`fake_http`]), Twilio's side of webhooks and its REST API
//! ([`twilio`]), the phone ([`phone`]), MQTT clients and brokers
//! ([`mqtt`]), a WebDriver client for headless Chromium ([`webdriver`])
//! and an LSP client of `krl lsp` ([`lsp`]).
//!
//! Why a crate of its own, and how it finds the binary: docs/layout.md.

pub mod api;
pub mod cluster;
pub mod fake_http;
pub mod lsp;
pub mod mqtt;
pub mod phone;
pub mod twilio;
pub mod webdriver;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

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
        build_bin("krl", "krl")
    })
}

/// The `krl-device` binary (`firmware/host`), found and built like
/// [`krl_bin`]; `KRL_DEVICE_BIN` overrides it.
pub fn krl_device_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("KRL_DEVICE_BIN") {
            return PathBuf::from(bin);
        }
        build_bin("krl-device", "krl-device")
    })
}

/// `krl-test-broker` (src/bin of this crate): cargo builds a package's
/// binaries before its integration tests and puts them next to the
/// profile's `deps` folder, where the test executable is; built here if
/// it is not there.
pub fn krl_test_broker_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let name = format!("krl-test-broker{}", std::env::consts::EXE_SUFFIX);
        let built = profile_dir().join(name);
        if built.is_file() {
            return built;
        }
        build_bin("krl-tests", "krl-test-broker")
    })
}

/// target/<profile dir>: the test executable is
/// target/<profile dir>/deps/<name>-<hash>.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// Builds `bin` of `package` with the profile and target directory this
/// test executable was built with (a no-op when it is up to date) and
/// answers its path.
fn build_bin(package: &str, bin: &str) -> PathBuf {
    let profile_dir = profile_dir();
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
            package,
            "--bin",
            bin,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
    assert!(
        status.success(),
        "cargo build -p {package} failed: {status}"
    );
    profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX))
}

/// The text of `path` (relative to the workspace root): a shipped
/// ruleset, a fixture.
pub fn source(path: &str) -> String {
    let path = workspace_root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A free loopback port (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .expect("a bound address")
        .port()
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
    /// A directory named after `name`, this process and a number of its
    /// own: all the tests run in one process, and two of them may pick
    /// the same name.
    pub fn new(name: &str) -> ScratchDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("krl-tests-{name}-{}-{n}", std::process::id()));
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

/// How long `krl serve` may take to print its start-up lines.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `krl serve` child process on 127.0.0.1, port 0, killed when dropped.
///
/// Start-up is synchronised on the lines it prints (`listening ...`,
/// `root_eci ...`, `admin_token ...`), never on sleeps.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Every node's URL, `url` first (one unless [`cluster_url`] is set).
    pub urls: Vec<String>,
    /// The other nodes of a cluster ([`cluster_url`]).
    others: Vec<Child>,
    /// The root pico's channel.
    pub root_eci: String,
    /// The admin token (given, or read from the `admin_token` line).
    pub admin_token: String,
    /// Whether the server printed an `admin_token` line.
    pub token_was_printed: bool,
    /// The broker from the `mqtt` line (`mqtt://HOST:PORT`), when MQTT is
    /// on (the caller passed `--mqtt-listen` or `--mqtt-url`).
    pub mqtt: Option<String>,
    stderr: Arc<Mutex<String>>,
}

/// Why `krl serve` did not start: its exit status and stderr.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

impl Server {
    /// Starts `krl serve --listen 127.0.0.1:0 --data DATA` with `args`
    /// added (pass `--admin-token T` to fix the token). MQTT is off
    /// (`--no-mqtt`) unless `args` has `--mqtt-listen` or `--mqtt-url`
    /// (then the `mqtt` line is read too). Panics if it does not start.
    pub fn start(data: &Path, args: &[&str]) -> Server {
        match Server::try_start(data, args) {
            Ok(s) => s,
            Err(f) => panic!("krl serve did not start ({:?}):\n{}", f.code, f.stderr),
        }
    }

    /// Like [`Server::start`], but a server that exits before printing its
    /// start-up lines is an `Err` with its stderr.
    pub fn try_start(data: &Path, args: &[&str]) -> Result<Server, StartFailure> {
        let mqtt_flag = args
            .iter()
            .any(|a| matches!(*a, "--mqtt-listen" | "--mqtt-url" | "--no-mqtt"));
        let mqtt_on = mqtt_flag && !args.contains(&"--no-mqtt");
        // The cluster mode of the suite: three nodes on PostgreSQL (MQTT
        // is not available on cluster nodes, so those servers stay alone).
        let cluster = cluster_url()
            .filter(|_| !mqtt_on && !args.contains(&"--store") && !args.contains(&"--mqtt-ca"))
            .map(|base| cluster_store(&base, data));
        let node_args = |n: usize| -> Vec<String> {
            match &cluster {
                Some(store) => vec![
                    "--store".into(),
                    store.clone(),
                    "--node-id".into(),
                    format!("n{n}"),
                ],
                None => Vec::new(),
            }
        };
        let mut child = krl()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(if mqtt_flag { None } else { Some("--no-mqtt") })
            .arg("--data")
            .arg(data)
            .args(node_args(1))
            .args(args)
            .env_remove("KRL_ADMIN_TOKEN")
            .env_remove("KRL_MQTT_URL")
            .env_remove("KRL_MQTT_LISTEN")
            .env_remove("KRL_MQTT_CA")
            .env("KRL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning krl serve");
        // stderr is drained by a thread, so the child never blocks on it
        // and a failure can show what it said.
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_thread = {
            let stderr = stderr.clone();
            let mut pipe = child.stderr.take().expect("piped stderr");
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        // stdout lines go through a channel so that waiting for them can
        // time out instead of hanging the test.
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let given_token = args
            .iter()
            .position(|a| *a == "--admin-token")
            .and_then(|i| args.get(i + 1))
            .map(|t| t.to_string());
        let wanted = if given_token.is_some() { 2 } else { 3 } + usize::from(mqtt_on);
        let mut lines = Vec::new();
        while lines.len() < wanted {
            match rx.recv_timeout(START_TIMEOUT) {
                Ok(l) => lines.push(l),
                Err(_) => {
                    // Closed stdout (it exited) or a timeout.
                    let _ = child.kill();
                    let status = child.wait().ok();
                    // It has exited: the stderr pipe is at its end.
                    let _ = stderr_thread.join();
                    return Err(StartFailure {
                        code: status.and_then(|s| s.code()),
                        stderr: format!("{}\n(stdout so far: {lines:?})", stderr.lock().unwrap()),
                    });
                }
            }
        }
        let field = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let url = field("listening ").expect("a `listening URL` line");
        let root_eci = field("root_eci ").expect("a `root_eci ECI` line");
        let printed = field("admin_token ");
        let mut urls = vec![url.clone()];
        let mut others: Vec<Child> = Vec::new();
        if let Some(store) = &cluster {
            for n in 2..=3 {
                // A cluster's nodes share one public URL (TwiML action
                // URLs, Twilio signatures): the first node's, unless the
                // test gives one.
                let mut extra: Vec<String> = Vec::new();
                if !args.contains(&"--public-url") {
                    extra.extend(["--public-url".to_string(), url.clone()]);
                }
                extra.extend(node_args(n));
                let (other, other_url) = match start_node(data, args, &extra, &stderr) {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        for mut o in others {
                            let _ = o.kill();
                            let _ = o.wait();
                        }
                        return Err(StartFailure {
                            code: None,
                            stderr: format!("cluster node n{n}: {e}\n{}", stderr.lock().unwrap()),
                        });
                    }
                };
                others.push(other);
                urls.push(other_url);
            }
            wait_settled(store, 3);
        }
        Ok(Server {
            child,
            url,
            urls,
            others,
            root_eci,
            token_was_printed: printed.is_some(),
            mqtt: field("mqtt "),
            admin_token: given_token.or(printed).expect("an admin token"),
            stderr,
        })
    }

    /// The process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL (every node of a cluster), and wait for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for o in &mut self.others {
            let _ = o.kill();
            let _ = o.wait();
        }
    }

    /// Is this server a cluster of nodes ([`cluster_url`])?
    pub fn is_cluster(&self) -> bool {
        !self.others.is_empty()
    }

    /// SIGTERM (a clean stop: it drains and flushes), then
    /// [`Server::wait_exit`].
    pub fn terminate(self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM: {status}");
        self.wait_exit()
    }

    /// Waits (at most 30 s) for a line of its stderr for which `pred`
    /// holds, and answers it; panics with `what` on time-out.
    pub fn log_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        api::wait_for(what, Duration::from_secs(30), || {
            self.stderr().lines().find(|l| pred(l)).map(str::to_string)
        })
    }

    /// Waits for the process to exit (after a signal) and answers its exit
    /// code; `None` if it did not exit within a minute (it is then killed).
    pub fn wait_exit(mut self) -> Option<i32> {
        // The other nodes of a cluster stop with the first.
        for o in &mut self.others {
            let _ = Command::new("kill")
                .args(["-TERM", &o.id().to_string()])
                .status();
        }
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for o in &mut self.others {
            let _ = o.kill();
            let _ = o.wait();
        }
    }
}

/// In the suite's cluster mode ([`cluster_url`]), says that `test` is
/// skipped because `why` (what it checks is a single node's: its sled
/// folder, its own start-up) and answers `true`.
pub fn sled_only(test: &str, why: &str) -> bool {
    let cluster = cluster_url().is_some();
    if cluster {
        eprintln!("SKIPPED {test} in the cluster mode: {why}");
    }
    cluster
}

/// The PostgreSQL server of the suite's cluster mode: `KRL_TEST_CLUSTER`
/// (e.g. `postgres://postgres@127.0.0.1:5432`; a database in it is
/// ignored). With it, every [`Server`] without MQTT is three `krl serve`
/// nodes on a database of its own, and [`api::Api`] sends each request to
/// the next node in turn.
pub fn cluster_url() -> Option<String> {
    std::env::var("KRL_TEST_CLUSTER")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| server_url(&u))
}

/// A PostgreSQL URL without its database and parameters
/// (`postgres://u@h:5432/db?x=y` is `postgres://u@h:5432`): the tests
/// name the databases themselves.
pub fn server_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{}", &rest[..end])
}

/// A database of `base` for the data folder `data` (the same one again
/// when a test restarts a server on its folder), created when missing.
pub fn cluster_store(base: &str, data: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.to_string_lossy().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let db = format!("krl_{h:016x}");
    psql(
        base,
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"),
    )
    .filter(|out| out.trim() == "1")
    .or_else(|| psql(base, "postgres", &format!("CREATE DATABASE {db}")));
    format!("{}/{db}", base.trim_end_matches('/'))
}

/// Runs `sql` with psql on database `db` of `base`: its output, or `None`
/// when it failed.
pub fn psql(base: &str, db: &str, sql: &str) -> Option<String> {
    let out = Command::new("psql")
        .arg(format!("{}/{db}", base.trim_end_matches('/')))
        .args(["-tAXq", "-c", sql])
        .output()
        .expect("running psql (the cluster mode needs PostgreSQL's client)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits (at most a minute) until `nodes` nodes own every shard of the
/// cluster on `store` between them, with no lease run out.
pub fn wait_settled(store: &str, nodes: usize) {
    let (base, db) = store.rsplit_once('/').expect("a database URL");
    let sql = "SELECT count(DISTINCT owner) || ' ' || \
               count(*) FILTER (WHERE owner IS NULL OR lease_until < now()) FROM krl_shards";
    let want = format!("{nodes} 0");
    api::wait_for(
        &format!("{nodes} nodes owning every shard"),
        Duration::from_secs(60),
        || {
            psql(base, db, sql)
                .filter(|out| out.trim() == want)
                .map(|_| ())
        },
    );
}

/// Starts one more node of a cluster: its child and its URL, once it
/// printed its `listening` line; its stderr goes to `stderr`.
fn start_node(
    data: &Path,
    args: &[&str],
    node_args: &[String],
    stderr: &Arc<Mutex<String>>,
) -> Result<(Child, String), String> {
    let dir = data.with_extension(format!("node-{}", node_args.last().map_or("", |s| s)));
    let mut child = krl()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args((!args.contains(&"--no-mqtt")).then_some("--no-mqtt"))
        .arg("--data")
        .arg(&dir)
        .args(node_args)
        .args(args)
        .env_remove("KRL_ADMIN_TOKEN")
        .env("KRL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning krl serve: {e}"))?;
    let mut pipe = child.stderr.take().expect("piped stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => {
                if let Some(url) = l.strip_prefix("listening ") {
                    return Ok((child, url.trim().to_string()));
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("it did not print its `listening` line".into());
            }
        }
    }
}
