//! A Language Server Protocol client for `krl lsp` over stdio, as an
//! editor runs it: messages framed with `Content-Length`, requests
//! answered by id, notifications kept while waiting
//! (tests/tests/e2e/lsp.rs, the `krl-lsp-bench` binary).

use crate::krl_bin;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A client: the server's stdin, and its messages as they arrive.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<Value>,
    next_id: i64,
    /// notifications read while waiting for a response
    notes: Vec<Value>,
}

fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    /// Starts `krl lsp`.
    pub fn start() -> Client {
        Client::start_with(krl_bin())
    }

    /// Starts `bin lsp`.
    pub fn start_with(bin: &std::path::Path) -> Client {
        let mut child = std::process::Command::new(bin)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting krl lsp");
        let stdin = child.stdin.take().expect("stdin");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            while let Some(m) = read_message(&mut out) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            next_id: 0,
            notes: Vec::new(),
        }
    }

    /// `initialize` with `root` as the workspace folder, then
    /// `initialized`; the server's answer.
    pub fn initialize(&mut self, root: &std::path::Path) -> Value {
        let root_uri = format!("file://{}", root.display());
        let init = self.request(
            "initialize",
            json!({"processId": null, "rootUri": root_uri, "capabilities": {},
                   "workspaceFolders": [{"uri": root_uri, "name": "ws"}]}),
        );
        self.notify("initialized", json!({}));
        init
    }

    /// Waits for the server to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("krl lsp exits")
    }

    fn send(&mut self, v: Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("writing");
        self.stdin.flush().expect("flushing");
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message.
    pub fn recv(&mut self) -> Value {
        self.rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a message from krl lsp within 30 s")
    }

    /// Sends a request and waits for its response's `result`.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.recv();
            if m.get("id") == Some(&json!(id)) {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
            self.notes.push(m);
        }
    }

    /// The next diagnostics published for `uri`.
    pub fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        if let Some(i) = self.notes.iter().position(|n| {
            n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
        }) {
            let n = self.notes.remove(i);
            return n["params"]["diagnostics"]
                .as_array()
                .expect("a list")
                .clone();
        }
        loop {
            let n = self.recv();
            if n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri {
                return n["params"]["diagnostics"]
                    .as_array()
                    .expect("a list")
                    .clone();
            }
            self.notes.push(n);
        }
    }
}
