//! `mqtts://` with a user and password, against mosquitto with a TLS
//! listener, a CA of its own (made here with the `openssl` command) and a
//! password file (`mosquitto_passwd`), no anonymous clients
//! (docs/mqtt.md, "TLS and logins"):
//!
//! * with `--mqtt-ca` the engine connects: a rule's publish reaches a TLS
//!   subscriber, and messages on a pico's subscription become events;
//! * a wrong password is logged with the way out, the engine keeps
//!   trying, and the publish stays queued until an engine with the right
//!   password sends it;
//! * without `--mqtt-ca` the broker's certificate is refused (unknown
//!   issuer) with a log line naming `--mqtt-ca`.
//!
//! These need mosquitto and openssl: they run with `KRL_TEST_MOSQUITTO=1`
//! (`.ci/run`) and skip otherwise. The start-up errors of a bad
//! `--mqtt-ca` need no broker and always run.

use krl_tests::api::{server, server_at, wait_for, Api};
use krl_tests::mqtt::{mosquitto_mode, spawn_mosquitto, Watcher};
use krl_tests::{free_port, krl, ScratchDir, Server};
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
const USER: &str = "ann";
const PASSWORD: &str = "s3cret pass";
/// `PASSWORD` as it goes in a URL.
const PASSWORD_IN_URL: &str = "s3cret%20pass";

const RULESET: &str = r#"ruleset io.example.mqtts {
  meta { shares log }
  global {
    log = function() { ent:log.defaultsTo([]) }
  }
  rule got {
    select when mqtt message
    always {
      ent:log := log().append([{"topic": event:attrs{"topic"}, "payload": event:attrs{"payload"},
                                "retain": event:attrs{"retain"}}])
    }
  }
  rule publish {
    select when t publish
    mqtt:publish(event:attrs{"topic"}, event:attrs{"payload"}, qos = 1)
  }
  rule subscribe {
    select when t subscribe
    mqtt:subscribe(event:attrs{"filter"})
  }
}"#;

const RID: &str = "io.example.mqtts";

/// Mosquitto mode, or a note that the test is skipped.
fn tls_tests_run(test: &str) -> bool {
    if !mosquitto_mode() {
        eprintln!("{test}: skipped (needs mosquitto and openssl: KRL_TEST_MOSQUITTO=1)");
    }
    mosquitto_mode()
}

/// Runs `openssl ARGS` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl (KRL_TEST_MOSQUITTO=1 needs it on PATH)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `ca_name` (`ca.pem`, `ca.key`) and a certificate it signed
/// for localhost and 127.0.0.1 (`server.pem`, `server.key`), P-256 keys,
/// in `dir`.
fn make_certs(dir: &Path, ca_name: &str) {
    let subject = format!("/CN={ca_name}");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        &subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut req = vec!["req", "-new"];
    req.extend(ec);
    req.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &req);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// Mosquitto with one TLS listener on 127.0.0.1 (the certificates of
/// [`make_certs`]), a password file with [`USER`], no anonymous clients.
struct TlsBroker {
    dir: ScratchDir,
    child: Child,
    port: u16,
}

impl TlsBroker {
    fn start(name: &str) -> TlsBroker {
        let dir = ScratchDir::new(&format!("tls-broker-{name}"));
        let d = dir.path();
        make_certs(d, "krl test CA");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(d.join("passwd"))
            .args([USER, PASSWORD])
            .status()
            .expect("running mosquitto_passwd (it comes with mosquitto)");
        assert!(status.success(), "mosquitto_passwd: {status}");
        // Run as root, mosquitto reads its files as the user it drops to.
        #[cfg(unix)]
        for f in ["ca.pem", "server.pem", "server.key", "passwd"] {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let port = free_port();
        let d = d.display();
        let conf = format!(
            "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\n\
             keyfile {d}/server.key\nallow_anonymous false\npassword_file {d}/passwd\n\
             set_tcp_nodelay true\nlog_dest stderr\n"
        );
        let child = spawn_mosquitto(&dir, port, &conf, true);
        TlsBroker { dir, child, port }
    }

    /// The CA's certificate (PEM).
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `mqtts://USER:PASSWORD@localhost:PORT`, with `password` (URL-encoded).
    fn url(&self, password: &str) -> String {
        format!("mqtts://{USER}:{password}@localhost:{}", self.port)
    }

    /// Mosquitto's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// A client over TLS (trusting the CA, connecting to 127.0.0.1: the
    /// certificate's IP address) with the right login, subscribed to
    /// `filters`.
    fn watcher(&self, id: &str, filters: &[&str]) -> Watcher {
        let pem = std::fs::read(self.ca()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut opts = MqttOptions::new(id, "127.0.0.1", self.port);
        opts.set_credentials(USER, PASSWORD)
            .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(config),
            )));
        Watcher::with_options(opts, filters)
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers the ruleset and installs it in a new pico: its channel.
fn device(api: &Api) -> String {
    let (_, eci) = api.pico_with(RULESET);
    eci
}

fn log(api: &Api, eci: &str) -> Vec<Value> {
    let (status, v) = api.query(eci, RID, "log", json!({}));
    assert_eq!(status, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

/// The first `mqtt: cannot connect` line of the engine's log.
fn connect_failure(s: &Server) -> String {
    s.log_line("a `mqtt: cannot connect` log line", |l| {
        l.contains("mqtt: cannot connect")
    })
}

#[test]
fn mqtts_with_mqtt_ca_and_a_login_publishes_and_receives() {
    if !tls_tests_run("mqtts_with_mqtt_ca_and_a_login_publishes_and_receives") {
        return;
    }
    let b = TlsBroker::start("ok");
    let ca = b.ca();
    let url = b.url(PASSWORD_IN_URL);
    let (_dir, s) = server(
        "mqtts-ok",
        &["--mqtt-url", &url, "--mqtt-ca", ca.to_str().unwrap()],
    );
    // the start-up line leaves the credentials out
    assert_eq!(
        s.mqtt.as_deref(),
        Some(format!("mqtts://localhost:{}", b.port).as_str())
    );
    let api = Api::new(&s);
    let eci = device(&api);
    let w = b.watcher("watcher-ok", &["out/#", "in/#"]);

    // a rule's publish reaches the subscriber
    let (status, body) = api.event(
        &eci,
        "t",
        "publish",
        json!({"topic": "out/tls", "payload": {"Type": "Incoming", "Body": "over TLS"}}),
    );
    assert_eq!(status, 200, "{body}");
    let m = w.next("the rule's publish", |m| m.topic == "out/tls");
    assert_eq!(m.payload, json!({"Type": "Incoming", "Body": "over TLS"}));

    // a retained message waits at the broker (seen by the watcher: it is
    // stored) for the pico's subscription, which gets it as an event
    w.publish_retained("in/retained", r#"{"n": 1}"#);
    w.next("its own retained message", |m| m.topic == "in/retained");
    let (status, body) = api.event(&eci, "t", "subscribe", json!({"filter": "in/#"}));
    assert_eq!(status, 200, "{body}");
    wait_for("the retained message as an event", LIMIT, || {
        (!log(&api, &eci).is_empty()).then_some(())
    });
    // the subscription is active now: a live message follows
    w.publish("in/live", "plain words", 1);
    let l = wait_for("the live message as an event", LIMIT, || {
        let l = log(&api, &eci);
        (l.len() >= 2).then_some(l)
    });
    assert_eq!(
        l,
        [
            json!({"topic": "in/retained", "payload": {"n": 1}, "retain": true}),
            json!({"topic": "in/live", "payload": "plain words", "retain": false}),
        ]
    );
    // connected at the first try: no failure logged
    let err = s.stderr();
    assert!(!err.contains("mqtt: cannot connect"), "{err}");
}

#[test]
fn a_refused_login_is_logged_retried_and_the_publish_waits_for_the_right_one() {
    if !tls_tests_run("a_refused_login_is_logged_retried_and_the_publish_waits_for_the_right_one") {
        return;
    }
    let b = TlsBroker::start("refused");
    let ca = b.ca();
    let ca = ca.to_str().unwrap();
    let w = b.watcher("watcher-refused", &["out/#"]);
    let dir = ScratchDir::new("mqtts-refused");
    let data = dir.path().join("data");
    let wrong = b.url("not-the-password");
    let s = server_at(&data, &["--mqtt-url", &wrong, "--mqtt-ca", ca]);
    let api = Api::new(&s);
    let eci = device(&api);
    let (status, body) = api.event(
        &eci,
        "t",
        "publish",
        json!({"topic": "out/held", "payload": "kept in the queue"}),
    );
    assert_eq!(status, 200, "{body}");

    // the refusal, with the way out, and without the password
    let line = connect_failure(&s);
    assert!(
        line.contains("NotAuthorized") || line.contains("BadUserNamePassword"),
        "{line}"
    );
    assert!(
        line.contains(r#"the broker refused the login as user "ann": check the user and password in --mqtt-url"#),
        "{line}"
    );
    // it keeps trying (the broker refuses it again), and the engine serves
    wait_for("a second refused attempt", LIMIT, || {
        (b.log().matches("not authorised").count() >= 2).then_some(())
    });
    assert_eq!(log(&api, &eci), Vec::<Value>::new());
    let err = s.stderr();
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // the same reason is logged once, not at every attempt
    assert_eq!(err.matches("mqtt: cannot connect").count(), 1, "{err}");

    // the publish stayed queued (on disk): an engine on the same data
    // folder with the right password sends it
    s.kill();
    let right = b.url(PASSWORD_IN_URL);
    let s = server_at(&data, &["--mqtt-url", &right, "--mqtt-ca", ca]);
    let m = w.next("the queued publish", |m| m.topic == "out/held");
    assert_eq!(m.payload, json!("kept in the queue"));
    let err = s.stderr();
    assert!(!err.contains("mqtt: cannot connect"), "{err}");
}

#[test]
fn without_mqtt_ca_the_brokers_own_ca_is_refused_with_a_clear_log_line() {
    if !tls_tests_run("without_mqtt_ca_the_brokers_own_ca_is_refused_with_a_clear_log_line") {
        return;
    }
    let b = TlsBroker::start("unknown-ca");
    let url = b.url(PASSWORD_IN_URL);
    let (_dir, s) = server("mqtts-unknown-ca", &["--mqtt-url", &url]);
    let line = connect_failure(&s);
    assert!(
        line.contains("invalid peer certificate: UnknownIssuer"),
        "{line}"
    );
    assert!(
        line.contains(
            "the broker's certificate is not signed by a CA of the built-in (Mozilla) roots; \
             for a broker with a CA of its own, give that CA's certificate with --mqtt-ca FILE"
        ),
        "{line}"
    );
    // the engine, not the broker, ended it: mosquitto got the alert
    wait_for("mosquitto to log the engine's alert", LIMIT, || {
        b.log().contains("unknown ca").then_some(())
    });
    let err = s.stderr();
    assert!(!err.contains("panicked"), "{err}");

    // --mqtt-ca replaces the built-in roots: a CA that did not sign the
    // broker's certificate is refused too, naming the file ...
    let other = ScratchDir::new("mqtts-other-ca");
    make_certs(other.path(), "krl other CA");
    let other_ca = other.path().join("ca.pem");
    let (_dir, s) = server(
        "mqtts-other-ca-engine",
        &["--mqtt-url", &url, "--mqtt-ca", other_ca.to_str().unwrap()],
    );
    let line = connect_failure(&s);
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(
        line.contains(&format!(
            "the broker's certificate is not signed by a CA in --mqtt-ca {}",
            other_ca.display()
        )),
        "{line}"
    );
    // ... and so is another CA of the same name (a CA made again)
    let again = ScratchDir::new("mqtts-same-name-ca");
    make_certs(again.path(), "krl test CA");
    let again_ca = again.path().join("ca.pem");
    let (_dir, s) = server(
        "mqtts-same-name-ca-engine",
        &["--mqtt-url", &url, "--mqtt-ca", again_ca.to_str().unwrap()],
    );
    let line = connect_failure(&s);
    assert!(line.contains("BadSignature"), "{line}");
    assert!(
        line.contains(&format!(
            "names a CA of --mqtt-ca {} as its issuer but is not signed by that CA's key",
            again_ca.display()
        )),
        "{line}"
    );
}

#[test]
fn a_bad_mqtt_ca_is_a_start_up_error_naming_the_flag() {
    let dir = ScratchDir::new("mqtt-ca-bad");
    let missing = dir.path().join("missing.pem");
    let text = dir.file("text.pem", "not a certificate\n");
    let key = dir.file(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let garbage = dir.file(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nTUlJQm5vdCBhIGNlcnQ=\n-----END CERTIFICATE-----\n",
    );
    let p = |p: &PathBuf| p.to_str().unwrap().to_string();
    let tls = "mqtts://127.0.0.1:1";
    let cases: Vec<(Vec<String>, String)> =
        vec![
        (
            vec!["--mqtt-url".into(), tls.into(), "--mqtt-ca".into(), p(&missing)],
            format!("krl: --mqtt-ca {}: cannot read the file: ", missing.display()),
        ),
        (
            vec!["--mqtt-url".into(), tls.into(), "--mqtt-ca".into(), p(&text)],
            format!("krl: --mqtt-ca {}: no certificate in it", text.display()),
        ),
        (
            vec!["--mqtt-url".into(), tls.into(), "--mqtt-ca".into(), p(&key)],
            format!("krl: --mqtt-ca {}: no certificate in it", key.display()),
        ),
        (
            vec!["--mqtt-url".into(), tls.into(), "--mqtt-ca".into(), p(&garbage)],
            format!(
                "krl: --mqtt-ca {}: certificate 1 is not a usable X.509 certificate",
                garbage.display()
            ),
        ),
        (
            vec![
                "--mqtt-url".into(),
                "mqtt://127.0.0.1:1".into(),
                "--mqtt-ca".into(),
                p(&text),
            ],
            "only used with a TLS broker (--mqtt-url mqtts://HOST:PORT), and mqtt://127.0.0.1:1 \
             is not TLS"
                .into(),
        ),
        (
            vec![
                "--mqtt-listen".into(),
                "127.0.0.1:0".into(),
                "--mqtt-ca".into(),
                p(&text),
            ],
            "and the embedded broker is plain MQTT".into(),
        ),
        (
            vec!["--no-mqtt".into(), "--mqtt-ca".into(), p(&text)],
            "and MQTT is off (--no-mqtt)".into(),
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let data = dir.path().join(format!("data-{i}"));
        let f = match Server::try_start(&data, &args) {
            Ok(_) => panic!("krl serve {args:?} started"),
            Err(f) => f,
        };
        assert_eq!(f.code, Some(2), "{args:?}: {}", f.stderr);
        assert!(
            f.stderr.starts_with("krl: --mqtt-ca "),
            "{args:?}: {}",
            f.stderr
        );
        assert!(f.stderr.contains(want.as_str()), "{args:?}: {}", f.stderr);
    }
    // the same from the environment (KRL_MQTT_CA)
    let out = krl()
        .args(["serve", "--listen", "127.0.0.1:0", "--mqtt-url", tls])
        .arg("--data")
        .arg(dir.path().join("data-env"))
        .env("KRL_MQTT_CA", &missing)
        .env_remove("KRL_MQTT_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "krl: --mqtt-ca {}: cannot read",
            missing.display()
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no start-up lines");
}
