//! The command line's listings and explanations, over [`client::Client`]:
//! `krl pico list` (the tree), `krl ruleset list`, `krl pico new
//! --install`, `-o FIELD`, `krl ruleset register` printing every error
//! with its source line and caret, and failures that say what to do
//! ([`explain`]: an ECI that is really a pico id or the reverse, a
//! ruleset not registered with the file that declares it and the nearest
//! registered rid, a function not shared with those that are). Uses:
//! `client`, krl-lang (parsing and checking rulesets), serde_json,
//! reqwest.
//!
//! [`client::Client`]: crate::client::Client

use crate::client::{seg, Client};
use anyhow::{anyhow, bail, Context as _};
use krl_lang::syntax::ast::{MetaKind, Span};
use krl_lang::syntax::{parse_ruleset, Diagnostic};
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `krl pico new`: `POST /api/picos` with `rulesets` installed in order
/// (`configs[i]`, JSON, is the config of `installs[i]`).
pub fn pico_new(
    c: &Client,
    parent: Option<&str>,
    name: Option<&str>,
    installs: &[String],
    configs: &[String],
) -> anyhow::Result<Value> {
    if configs.len() > installs.len() {
        bail!("--config is the configuration of an --install RID: give the --install first");
    }
    let mut body = json!({});
    if let Some(p) = parent {
        body["parent"] = json!(p);
    }
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    if !installs.is_empty() {
        let mut rulesets = Vec::new();
        for (i, rid) in installs.iter().enumerate() {
            let mut r = json!({ "rid": rid });
            if let Some(cfg) = configs.get(i) {
                r["config"] = serde_json::from_str(cfg)
                    .with_context(|| format!("--config for {rid} must be JSON"))?;
            }
            rulesets.push(r);
        }
        body["rulesets"] = Value::Array(rulesets);
    }
    c.admin_call(Method::POST, "/picos", Some(&body))
}

/// `krl ruleset register FILE`: on a refusal with a position, every error
/// of the file (parsed and checked here as `krl check` does) with its
/// source line and a caret, else the engine's one error so.
pub fn register(c: &Client, file: &Path) -> anyhow::Result<Value> {
    let src =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match c.register(file) {
        Ok(v) => Ok(v),
        Err(e) => {
            let root = e.root_cause().to_string();
            let Some((line, col, msg)) = position(&root) else {
                return Err(e);
            };
            let name = file.display().to_string();
            let local: Vec<Diagnostic> = match parse_ruleset(&src) {
                Ok(ast) => krl_lang::engine::check(&ast),
                Err(d) => vec![d],
            };
            let errors: Vec<&Diagnostic> = local.iter().filter(|d| d.is_error()).collect();
            let mut out = String::new();
            let count = if errors.is_empty() {
                out.push_str(&Diagnostic::error(span_at(&src, line, col), msg).render(&name, &src));
                1
            } else {
                for d in &errors {
                    out.push_str(&d.render(&name, &src));
                }
                errors.len()
            };
            let s = if count == 1 { "" } else { "s" };
            Err(anyhow!(
                "the engine refused {name} ({count} error{s}):\n{}",
                out.trim_end()
            ))
        }
    }
}

/// `STATUS: LINE:COL: MESSAGE` (the client's error with a position).
fn position(err: &str) -> Option<(usize, usize, String)> {
    let (_, rest) = err.split_once(": ")?;
    let (lc, msg) = rest.split_once(": ")?;
    let (l, c) = lc.split_once(':')?;
    Some((l.parse().ok()?, c.parse().ok()?, msg.to_string()))
}

/// The byte span of 1-based `line`:`col` in `src` (one character wide).
fn span_at(src: &str, line: usize, col: usize) -> Span {
    let start_of_line: usize = src
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let text = &src[start_of_line.min(src.len())..];
    let off = text
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    let start = (start_of_line + off).min(src.len());
    let end = src[start..]
        .chars()
        .next()
        .map_or(start, |ch| start + ch.len_utf8());
    Span {
        start: start as u32,
        end: end as u32,
    }
}

/// `GET /api/picos`: the tree.
pub fn pico_tree(c: &Client) -> anyhow::Result<Value> {
    c.admin_call(Method::GET, "/picos", None)
}

/// The tree as text: each pico `name  id` with its ECIs and rulesets
/// beneath, children indented.
pub fn render_tree(tree: &Value) -> String {
    fn walk(n: &Value, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let _ = writeln!(
            out,
            "{pad}{}  {}",
            n["name"].as_str().unwrap_or("?"),
            n["id"].as_str().unwrap_or("?")
        );
        let list = |v: &Value| -> String {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let _ = writeln!(out, "{pad}  eci: {}", list(&n["channels"]));
        let rs = list(&n["rulesets"]);
        if !rs.is_empty() {
            let _ = writeln!(out, "{pad}  rulesets: {rs}");
        }
        for c in n["children"].as_array().into_iter().flatten() {
            walk(c, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(tree, 0, &mut out);
    out
}

/// `krl ruleset list` as text: `rid  version`, and what is wrong with a
/// broken one.
pub fn render_rulesets(list: &Value) -> String {
    let mut out = String::new();
    for r in list.as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "{}  {}",
            r["rid"].as_str().unwrap_or("?"),
            r["version"].as_str().unwrap_or("-")
        );
        if let Some(b) = r["broken"].as_str() {
            let _ = write!(out, "  BROKEN: {b}");
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("no rulesets registered (krl ruleset register FILE)\n");
    }
    out
}

/// `krl logs --follow`: prints the engine's trace (`GET /api/trace`) as
/// it comes, one line per entry (`json`: the entries as JSON lines),
/// until the engine closes it.
pub fn follow(c: &Client, pico: Option<&str>, json: bool) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};
    let path = match pico {
        Some(p) => format!("/trace?pico={}", seg(p)),
        None => "/trace".to_string(),
    };
    let res = c.admin_stream(&path)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(res).lines() {
        let line = line.context("reading the trace")?;
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        if json {
            writeln!(out, "{}", data.trim())?;
        } else if let Ok(e) = serde_json::from_str::<Value>(data.trim()) {
            writeln!(out, "{}", trace_line(&e))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// One trace entry as a line of text.
pub fn trace_line(e: &Value) -> String {
    let d = &e["data"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let what = match e["kind"].as_str().unwrap_or("") {
        "event" => {
            let dirs: Vec<String> = d["directives"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| s(&x["name"]))
                .collect();
            format!(
                "event {}:{} on {} {} -> {}",
                s(&d["domain"]),
                s(&d["name"]),
                s(&d["eci"]),
                d["attrs"],
                if dirs.is_empty() {
                    "no directives".into()
                } else {
                    dirs.join(", ")
                }
            )
        }
        "error" => format!(
            "error in {}:{}: {}{} at {}:{}: {}",
            s(&d["domain"]),
            s(&d["name"]),
            s(&d["rid"]),
            d["rule"]
                .as_str()
                .map(|r| format!(" rule {r}"))
                .unwrap_or_default(),
            d["line"],
            d["col"],
            s(&d["message"])
        ),
        "sent" => format!(
            "sent {}:{} to {}",
            s(&d["domain"]),
            s(&d["name"]),
            s(&d["eci"])
        ),
        "scheduled" => format!(
            "scheduled {}:{} ({})",
            s(&d["domain"]),
            s(&d["name"]),
            s(&d["rid"])
        ),
        "outbox" => format!(
            "outbox {} {} {}",
            s(&d["action"]),
            s(&d["state"]),
            s(&d["error_message"])
        ),
        "mqtt_in" => format!("mqtt in {} {}", s(&d["topic"]), d["payload"]),
        "mqtt_out" => format!("mqtt out {} {}", s(&d["topic"]), d["payload"]),
        other => format!("{other} {d}"),
    };
    let dropped = e["dropped"].as_u64().unwrap_or(0);
    let lost = if dropped > 0 {
        format!(" ({dropped} entries dropped before this one)")
    } else {
        String::new()
    };
    format!(
        "#{} {} {what}{lost}",
        e["seq"],
        e["pico"].as_str().unwrap_or("-")
    )
}

/// `-o FIELD`: one field of an answer (`eci`, `directives.0.name`), a
/// string as is, anything else as JSON.
pub fn field(v: &Value, path: &str) -> anyhow::Result<String> {
    let mut at = v;
    for part in path.split('.') {
        at = match at {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| {
            let fields = match v {
                Value::Object(m) => m.keys().cloned().collect::<Vec<_>>().join(", "),
                _ => "none".into(),
            };
            anyhow!("-o {path}: the answer has no such field (fields: {fields})")
        })?;
    }
    Ok(match at {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Says what to do about a name the engine did not find.
type Hint = fn(&Client, &str) -> String;

/// A failure with what to do next, when the engine's answer is one of
/// those people meet while finding their way (with the admin token, the
/// engine is asked what the name really is).
pub fn explain(c: &Client, e: anyhow::Error) -> anyhow::Error {
    let text = e.root_cause().to_string();
    let hints: [(&str, Hint); 5] = [
        ("ECI not found: ", eci_hint),
        // a pico id is also the eci of the pico's self channel, which only
        // the pico itself may use
        ("only the owner can use it: ", eci_hint),
        ("Pico not found: ", pico_hint),
        ("Ruleset not found: ", ruleset_hint),
        ("Not shared: ", shared_hint),
    ];
    let hint = hints
        .iter()
        .find_map(|(prefix, f)| after(&text, prefix).map(|x| f(c, &x)));
    match hint {
        Some(h) if !h.is_empty() => e.context(h),
        _ => e,
    }
}

/// The word after `prefix` in `text`.
fn after(text: &str, prefix: &str) -> Option<String> {
    let i = text.find(prefix)?;
    text[i + prefix.len()..]
        .split_whitespace()
        .next()
        .map(|w| w.trim_end_matches([',', ';', '.', '"']).to_string())
}

/// Every pico of the tree, flattened.
fn picos(c: &Client) -> Option<Vec<Value>> {
    if !c.has_token() {
        return None;
    }
    let tree = pico_tree(c).ok()?;
    let mut out = Vec::new();
    let mut stack = vec![tree];
    while let Some(mut n) = stack.pop() {
        if let Some(Value::Array(kids)) = n.get_mut("children").map(Value::take) {
            stack.extend(kids);
        }
        out.push(n);
    }
    Some(out)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn eci_hint(c: &Client, x: &str) -> String {
    match picos(c) {
        Some(all) => match all.iter().find(|p| p["id"] == json!(x)) {
            Some(p) => format!(
                "{x} is a pico id, not an ECI: the channels of pico {} are {} (use one of those)",
                p["name"].as_str().unwrap_or("?"),
                strs(&p["channels"]).join(", ")
            ),
            None => format!("no channel has the ECI {x} (krl pico list shows every pico's ECIs)"),
        },
        None => format!(
            "no channel has the ECI {x}: an ECI is the \"eci\" krl pico new printed, not the \
             pico's \"id\" (krl pico list --admin-token ... shows them)"
        ),
    }
}

fn pico_hint(c: &Client, x: &str) -> String {
    match picos(c) {
        Some(all) => match all
            .iter()
            .find(|p| strs(&p["channels"]).iter().any(|e| e == x))
        {
            Some(p) => format!(
                "{x} is an ECI (a channel of pico {}), not a pico id: the pico's id is {}",
                p["name"].as_str().unwrap_or("?"),
                p["id"].as_str().unwrap_or("?")
            ),
            None => format!("no pico has the id {x} (krl pico list shows every pico's id)"),
        },
        None => format!("no pico has the id {x} (krl pico list shows every pico's id)"),
    }
}

fn ruleset_hint(c: &Client, rid: &str) -> String {
    let mut hint = match declaring_file(rid) {
        Some(f) => format!(
            "{rid} is not registered: register it first with `krl ruleset register {}`",
            f.display()
        ),
        None => {
            format!("{rid} is not registered: register it first with `krl ruleset register FILE`")
        }
    };
    if c.has_token() {
        if let Ok(list) = c.admin_call(Method::GET, "/rulesets", None) {
            let rids: Vec<String> = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["rid"].as_str().map(str::to_string))
                .collect();
            if let Some(near) = nearest(rid, &rids) {
                let _ = write!(hint, "; did you mean {near}?");
            }
        }
    }
    hint
}

/// A `.krl` file in `rulesets/` or here that declares `ruleset RID`.
fn declaring_file(rid: &str) -> Option<PathBuf> {
    for dir in ["rulesets", "."] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "krl"))
            .collect();
        files.sort();
        for f in files {
            let Ok(src) = std::fs::read_to_string(&f) else {
                continue;
            };
            let declares = src
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w[0] == "ruleset" && w[1].trim_end_matches('{') == rid);
            if declares {
                return Some(f);
            }
        }
    }
    None
}

/// The registered rid nearest to `rid` by edit distance, when near enough.
fn nearest(rid: &str, rids: &[String]) -> Option<String> {
    let limit = (rid.chars().count() / 3).max(2);
    rids.iter()
        .map(|r| (krl_lang::syntax::words::edit_distance(rid, r), r))
        .filter(|(d, _)| *d <= limit && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, r)| r.clone())
}

/// `rid/name` is not shared: the functions `rid` shares, read from its
/// registered source (needs the admin token).
fn shared_hint(c: &Client, what: &str) -> String {
    let Some((rid, _)) = what.split_once('/') else {
        return String::new();
    };
    if !c.has_token() {
        return format!(
            "the ruleset's `meta {{ shares ... }}` lists what a query may call \
             (with --admin-token the shared functions of {rid} are listed here)"
        );
    }
    let Ok(r) = c.admin_call(Method::GET, &format!("/rulesets/{}", seg(rid)), None) else {
        return String::new();
    };
    let Some(src) = r["source"].as_str() else {
        return String::new();
    };
    let Ok(ast) = parse_ruleset(src) else {
        return String::new();
    };
    let shared: Vec<String> = ast
        .meta
        .iter()
        .filter_map(|m| match &m.kind {
            MetaKind::Shares { names } => Some(names.iter().map(|n| n.name.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    if shared.is_empty() {
        format!("{rid} shares no functions (add `shares NAME` to its meta block)")
    } else {
        format!("{rid} shares: {}", shared.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_by_path() {
        let v = json!({"id": "p", "eci": "e", "directives": [{"name": "say"}], "n": 3});
        assert_eq!(field(&v, "eci").unwrap(), "e");
        assert_eq!(field(&v, "directives.0.name").unwrap(), "say");
        assert_eq!(field(&v, "n").unwrap(), "3");
        let e = field(&v, "nope").unwrap_err().to_string();
        assert!(e.contains("fields: "), "{e}");
    }

    #[test]
    fn nearest_rids_and_positions() {
        let rids = vec!["io.krl.hello_monkey".to_string(), "io.other".to_string()];
        assert_eq!(
            nearest("io.krl.hello_monky", &rids).as_deref(),
            Some("io.krl.hello_monkey")
        );
        assert_eq!(nearest("zzz", &rids), None);
        assert_eq!(
            position("400 Bad Request: 4:19: expected an expression"),
            Some((4, 19, "expected an expression".into()))
        );
        let src = "ab\ncdé f\n";
        let s = span_at(src, 2, 4);
        assert_eq!(&src[s.start as usize..s.end as usize], " ");
    }

    #[test]
    fn words_after_a_prefix() {
        assert_eq!(
            after(
                "404 Not Found: Ruleset not found: io.x (register it first)",
                "Ruleset not found: "
            )
            .as_deref(),
            Some("io.x")
        );
    }
}
