//! The `krl` command: `krl check FILE...`, `krl parse --json FILE`.
//! (The server and the pico commands arrive with the engine.)

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use krl_lang::check::check_ruleset;
use krl_lang::syntax::{parse_ruleset, Diagnostic};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "krl", version, about = "KRL rules engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rulesets; prints OK or the errors, exits 1 on any error.
    Check {
        /// KRL files (a directory means every *.krl file in it).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also print warnings (classic constructs and the like).
        #[arg(long)]
        warnings: bool,
    },
    /// Parse one ruleset and print its AST.
    Parse {
        /// Print the AST as JSON (the only format for now).
        #[arg(long)]
        json: bool,
        /// The KRL file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("krl: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { files, warnings } => check_files(&expand(files)?, warnings),
        Command::Parse { json: _, file } => {
            let src = read(&file)?;
            match parse_ruleset(&src) {
                Ok(ast) => {
                    let json = serde_json::to_string_pretty(&ast)?;
                    let mut out = std::io::stdout().lock();
                    match writeln!(out, "{json}") {
                        // `krl parse --json f | head` closes the pipe early: not an error
                        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                        _ => Ok(ExitCode::SUCCESS),
                    }
                }
                Err(d) => {
                    eprint!("{}", d.render(&file.display().to_string(), &src));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Directories become their `*.krl` files, sorted.
fn expand(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "krl"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

fn check_files(files: &[PathBuf], warnings: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let src = read(file)?;
        let name = file.display().to_string();
        let diags: Vec<Diagnostic> = match parse_ruleset(&src) {
            Ok(ast) => check_ruleset(&ast),
            Err(d) => vec![d],
        };
        let errors = diags.iter().filter(|d| d.is_error()).count();
        for d in diags.iter().filter(|d| warnings || d.is_error()) {
            eprint!("{}", d.render(&name, &src));
        }
        if errors > 0 {
            failed += 1;
        } else {
            println!("{name}: OK");
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) failed", files.len());
        Ok(ExitCode::FAILURE)
    } else {
        if files.len() > 1 {
            println!("OK ({} files)", files.len());
        }
        Ok(ExitCode::SUCCESS)
    }
}
