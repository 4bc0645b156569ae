//! `krl lsp`: the language server (docs/editors.md).

/// Serves the Language Server Protocol on stdin and stdout until the
/// client says `exit`.
pub fn run() -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not yet")
}
