//! `krl fmt [--check] FILE|DIR|-...`: rewrites KRL files in the canonical
//! layout of `krl_lang::fmt` (docs/fmt.md). A directory means every
//! `*.krl` file under it (recursively, sorted); `-` formats standard input
//! to standard output. `--check` rewrites nothing: it names the files that
//! would change and fails.

use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `*.krl` files under `dir`, sorted, recursively.
fn krl_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            krl_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "krl") {
            out.push(p);
        }
    }
    Ok(())
}

/// Runs `krl fmt`: exit 0 when every file is (now) formatted; 1 when
/// `check` found files to format or a file does not parse.
pub fn run(paths: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            krl_files(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    let (mut changed, mut failed) = (0, 0);
    for file in &files {
        let stdin = file.as_os_str() == "-";
        let src = if stdin {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        } else {
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?
        };
        let name = if stdin {
            "<stdin>".to_string()
        } else {
            file.display().to_string()
        };
        let out = match krl_lang::fmt::format(&src) {
            Ok(out) => out,
            Err(d) => {
                eprint!("{}", d.render(&name, &src));
                failed += 1;
                continue;
            }
        };
        if stdin && !check {
            std::io::stdout().write_all(out.as_bytes())?;
        } else if out != src {
            changed += 1;
            if check {
                println!("{name}");
            } else {
                std::fs::write(file, &out)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                println!("formatted {name}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) do not parse", files.len());
    }
    if check && changed > 0 {
        eprintln!(
            "{changed} of {} file(s) are not formatted (krl fmt)",
            files.len()
        );
    }
    Ok(if failed > 0 || (check && changed > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
