//! `krl lsp`: a Language Server Protocol server over stdio, for any
//! editor (docs/editors.md). Synchronous: `lsp-server` reads and writes
//! the messages on its own threads, this loop answers them one by one.
//!
//! * [`text`] — byte offsets to and from LSP positions;
//! * [`index`] — one ruleset's definitions, uses and scopes, from the AST;
//! * [`features`] — diagnostics, hover, definition, references,
//!   completion, document symbols and formatting over the open documents
//!   and the workspace folder's other `.krl` files.
//!
//! Documents are synchronized whole (`TextDocumentSyncKind::FULL`); each
//! open or change parses and checks that document again (`krl check`'s
//! diagnostics, published at once) and re-indexes it.

pub mod features;
pub mod index;
pub mod text;

#[cfg(test)]
mod tests;

use krl_lang::syntax::ast::Ruleset;
use krl_lang::syntax::{parse_ruleset, Diagnostic};
use lsp_server::{Connection, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{notification as n, request as r, Url};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One ruleset's text and what is known of it.
pub struct Doc {
    /// the text as the editor has it
    pub text: String,
    /// its line starts
    pub lines: text::Lines,
    /// `krl check`'s diagnostics (the syntax error when it does not parse)
    pub diags: Vec<Diagnostic>,
    /// the last text that parsed, its AST and index (completion works on
    /// a half-typed line with the last good index)
    pub good: Option<Good>,
}

/// A parsed version of a document.
pub struct Good {
    /// that text
    pub text: String,
    /// its line starts
    pub lines: text::Lines,
    /// its AST
    pub ast: Ruleset,
    /// its names
    pub index: index::Index,
}

impl Doc {
    /// Parses, checks and indexes `text` (keeping `prev`'s last good
    /// version when it does not parse).
    pub fn new(text: String, prev: Option<Doc>) -> Doc {
        let lines = text::Lines::new(&text);
        let (diags, good) = match parse_ruleset(&text) {
            Ok(ast) => {
                let diags = krl_lang::engine::check(&ast);
                let index = index::index(&ast);
                let good = Good {
                    text: text.clone(),
                    lines: lines.clone(),
                    ast,
                    index,
                };
                (diags, Some(good))
            }
            Err(d) => (vec![d], prev.and_then(|p| p.good)),
        };
        Doc {
            text,
            lines,
            diags,
            good,
        }
    }
}

/// The open documents and the workspace folder's other rulesets.
#[derive(Default)]
pub struct State {
    /// the open documents, by URI
    pub docs: BTreeMap<Url, Doc>,
    /// the workspace folder's `.krl` files as read from disk (open
    /// documents take precedence)
    pub disk: BTreeMap<Url, Doc>,
}

impl State {
    /// Every known ruleset, open documents first.
    pub fn all(&self) -> impl Iterator<Item = (&Url, &Doc)> {
        self.docs.iter().chain(
            self.disk
                .iter()
                .filter(|(u, _)| !self.docs.contains_key(*u)),
        )
    }

    /// Reads the `.krl` files under `root` (not under `target/`,
    /// `node_modules/` or hidden folders).
    pub fn scan(&mut self, root: &Path) {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name();
                let name = name.to_string_lossy();
                if p.is_dir() {
                    if depth < 8
                        && !name.starts_with('.')
                        && name != "target"
                        && name != "node_modules"
                    {
                        walk(&p, out, depth + 1);
                    }
                } else if name.ends_with(".krl") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(root, &mut files, 0);
        for f in files.into_iter().take(2000) {
            if let (Ok(text), Ok(url)) = (std::fs::read_to_string(&f), Url::from_file_path(&f)) {
                self.disk.insert(url, Doc::new(text, None));
            }
        }
    }

    fn publish(&self, uri: &Url) -> Option<Message> {
        let doc = self.docs.get(uri)?;
        let params = lsp_types::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics: features::diagnostics(doc),
            version: None,
        };
        Some(Message::Notification(Notification::new(
            n::PublishDiagnostics::METHOD.to_string(),
            params,
        )))
    }

    /// Handles a notification; the messages to send back.
    pub fn notification(&mut self, note: Notification) -> Vec<Message> {
        match note.method.as_str() {
            n::DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(note.params)
                else {
                    return vec![];
                };
                let uri = p.text_document.uri;
                self.docs
                    .insert(uri.clone(), Doc::new(p.text_document.text, None));
                self.publish(&uri).into_iter().collect()
            }
            n::DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(note.params)
                else {
                    return vec![];
                };
                let uri = p.text_document.uri;
                // full synchronization: the last change is the whole text
                let Some(change) = p.content_changes.into_iter().last() else {
                    return vec![];
                };
                let prev = self.docs.remove(&uri);
                self.docs.insert(uri.clone(), Doc::new(change.text, prev));
                self.publish(&uri).into_iter().collect()
            }
            n::DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(note.params)
                else {
                    return vec![];
                };
                let uri = p.text_document.uri;
                self.docs.remove(&uri);
                // what is on disk counts again; its diagnostics are cleared
                if let Ok(path) = uri.to_file_path() {
                    if let Ok(text) = std::fs::read_to_string(path) {
                        self.disk.insert(uri.clone(), Doc::new(text, None));
                    }
                }
                let params = lsp_types::PublishDiagnosticsParams {
                    uri,
                    diagnostics: vec![],
                    version: None,
                };
                vec![Message::Notification(Notification::new(
                    n::PublishDiagnostics::METHOD.to_string(),
                    params,
                ))]
            }
            _ => vec![],
        }
    }

    /// Answers a request.
    pub fn request(&self, req: Request) -> Response {
        fn answer<T: serde::Serialize>(id: lsp_server::RequestId, v: T) -> Response {
            Response::new_ok(id, v)
        }
        /// The request's parameters, or why they are not.
        fn params<P: serde::de::DeserializeOwned>(req: &Request) -> Result<P, String> {
            serde_json::from_value(req.params.clone()).map_err(|e| e.to_string())
        }
        let id = req.id.clone();
        let result = match req.method.as_str() {
            r::HoverRequest::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::hover(self, p)))
            }
            r::GotoDefinition::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::definition(self, p)))
            }
            r::References::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::references(self, p)))
            }
            r::Completion::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::completion(self, p)))
            }
            r::DocumentSymbolRequest::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::symbols(self, p)))
            }
            r::Formatting::METHOD => {
                params(&req).map(|p| answer(id.clone(), features::formatting(self, p)))
            }
            _ => {
                return Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("krl lsp does not answer {}", req.method),
                )
            }
        };
        result.unwrap_or_else(|e| {
            Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, e)
        })
    }
}

/// What the server offers.
pub fn capabilities() -> lsp_types::ServerCapabilities {
    use lsp_types::*;
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![":".into(), " ".into()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    }
}

/// Serves the Language Server Protocol on stdin and stdout until the
/// client says `shutdown` and `exit`.
pub fn run() -> anyhow::Result<ExitCode> {
    let (conn, io) = Connection::stdio();
    let (id, init) = conn.initialize_start()?;
    conn.initialize_finish(
        id,
        serde_json::json!({
            "capabilities": capabilities(),
            "serverInfo": {"name": "krl lsp", "version": env!("CARGO_PKG_VERSION")},
        }),
    )?;
    let init: lsp_types::InitializeParams = serde_json::from_value(init)?;
    let mut state = State::default();
    #[allow(deprecated)] // root_uri: older clients send only it
    let root = init
        .workspace_folders
        .iter()
        .flatten()
        .map(|f| f.uri.clone())
        .next()
        .or(init.root_uri);
    if let Some(path) = root.and_then(|u| u.to_file_path().ok()) {
        state.scan(&path);
    }
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req)? {
                    break;
                }
                // a bug in one answer is an error answer, not the end of
                // the editor's session
                let id = req.id.clone();
                let answer =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.request(req)))
                        .unwrap_or_else(|_| {
                            Response::new_err(
                                id,
                                lsp_server::ErrorCode::InternalError as i32,
                                "krl lsp failed on this request".into(),
                            )
                        });
                conn.sender.send(Message::Response(answer))?;
            }
            Message::Notification(note) => {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    state.notification(note)
                }))
                .unwrap_or_default();
                for m in out {
                    conn.sender.send(m)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    drop(conn);
    io.join()?;
    Ok(ExitCode::SUCCESS)
}
