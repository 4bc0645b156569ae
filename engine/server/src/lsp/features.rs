//! The answers: diagnostics (the same as `krl check`), hover, go to
//! definition, find references, completion, document symbols and
//! formatting (`krl fmt`). Names are resolved by the [`index`] of each
//! ruleset; a module's functions through `use module` aliases, events
//! named by `raise`/`schedule` and the rules that select them, and entity
//! variables' writers are looked up over every ruleset of the workspace.

use super::index::{DefKind, Index, Target};
use super::{Doc, Good, State};
use krl_lang::native::Member;
use krl_lang::syntax::ast::{ExprKind, Span};
use krl_lang::syntax::Severity;
use lsp_types::*;

/// `krl check`'s diagnostics of a document.
pub fn diagnostics(doc: &Doc) -> Vec<Diagnostic> {
    doc.diags
        .iter()
        .map(|d| Diagnostic {
            range: doc.lines.range(&doc.text, d.span),
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            source: Some("krl".into()),
            message: d.message.clone(),
            ..Diagnostic::default()
        })
        .collect()
}

fn doc<'s>(state: &'s State, uri: &Url) -> Option<&'s Doc> {
    state.docs.get(uri).or_else(|| state.disk.get(uri))
}

/// What is under the cursor: a use (with its target) or a definition.
enum At {
    Ref(Span, Target),
    Def(usize),
}

fn at(good: &Good, pos: Position) -> Option<At> {
    let off = good.lines.offset(&good.text, pos) as u32;
    let inside = |s: &Span| s.start <= off && off <= s.end;
    let r = good
        .index
        .refs
        .iter()
        .filter(|r| inside(&r.span))
        .min_by_key(|r| r.span.end - r.span.start);
    if let Some(r) = r {
        return Some(At::Ref(r.span, r.target.clone()));
    }
    good.index
        .defs
        .iter()
        .position(|d| inside(&d.span))
        .map(At::Def)
}

fn location(uri: &Url, good: &Good, span: Span) -> Location {
    Location::new(uri.clone(), good.lines.range(&good.text, span))
}

/// The rulesets whose rid is `rid`.
fn by_rid<'s>(state: &'s State, rid: &'s str) -> impl Iterator<Item = (&'s Url, &'s Good)> {
    goods(state).filter(move |(_, g)| g.index.rid == rid)
}

fn goods(state: &State) -> impl Iterator<Item = (&Url, &Good)> {
    state
        .all()
        .filter_map(|(u, d)| d.good.as_ref().map(|g| (u, g)))
}

/// A global of a ruleset by name.
fn global(ix: &Index, name: &str) -> Option<usize> {
    let scope = ix.scopes.first()?;
    scope.defs.iter().copied().find(|&i| {
        ix.defs[i].name == name
            && matches!(
                ix.defs[i].kind,
                DefKind::Global | DefKind::Function | DefKind::Defaction
            )
    })
}

/// Where a target is defined.
fn targets(state: &State, uri: &Url, good: &Good, t: &Target) -> Vec<Location> {
    match t {
        Target::Def(i) => vec![location(uri, good, good.index.defs[*i].span)],
        Target::Module(rid, name) => {
            let found: Vec<Location> = by_rid(state, rid)
                .filter_map(|(u, g)| {
                    global(&g.index, name).map(|i| location(u, g, g.index.defs[i].span))
                })
                .collect();
            if found.is_empty() {
                // the module is not in the workspace: its alias
                good.index
                    .defs
                    .iter()
                    .filter(|d| {
                        d.kind == DefKind::Alias && good.index.aliases.get(&d.name) == Some(rid)
                    })
                    .map(|d| location(uri, good, d.span))
                    .collect()
            } else {
                found
            }
        }
        Target::Event(d, ty) => goods(state)
            .flat_map(|(u, g)| {
                g.index
                    .selects
                    .iter()
                    .filter(|s| &s.domain == d && &s.kind == ty)
                    .map(move |s| location(u, g, g.index.defs[s.rule].span))
            })
            .collect(),
        Target::Entity(_) => by_rid(state, &good.index.rid)
            .flat_map(|(u, g)| {
                g.index
                    .refs
                    .iter()
                    .filter(|r| r.write && &r.target == t)
                    .map(move |r| location(u, g, r.span))
            })
            .collect(),
        Target::Library(_) | Target::Member(..) | Target::Unknown(_) => vec![],
    }
}

/// Go to definition.
pub fn definition(state: &State, p: GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
    let uri = &p.text_document_position_params.text_document.uri;
    let good = doc(state, uri)?.good.as_ref()?;
    let locs = match at(good, p.text_document_position_params.position)? {
        At::Ref(_, t) => targets(state, uri, good, &t),
        At::Def(i) => vec![location(uri, good, good.index.defs[i].span)],
    };
    (!locs.is_empty()).then_some(GotoDefinitionResponse::Array(locs))
}

/// Every use of what `t` names, over the workspace where it reaches.
fn uses(state: &State, uri: &Url, good: &Good, t: &Target) -> Vec<Location> {
    let same = |g: &Good| -> Vec<Span> {
        g.index
            .refs
            .iter()
            .filter(|r| &r.target == t)
            .map(|r| r.span)
            .collect()
    };
    match t {
        Target::Def(_) => same(good)
            .into_iter()
            .map(|s| location(uri, good, s))
            .collect(),
        Target::Entity(_) => by_rid(state, &good.index.rid)
            .flat_map(|(u, g)| same(g).into_iter().map(move |s| location(u, g, s)))
            .collect(),
        _ => goods(state)
            .flat_map(|(u, g)| same(g).into_iter().map(move |s| location(u, g, s)))
            .collect(),
    }
}

/// Find references (the definitions too when the client asks).
pub fn references(state: &State, p: ReferenceParams) -> Option<Vec<Location>> {
    let uri = &p.text_document_position.text_document.uri;
    let good = doc(state, uri)?.good.as_ref()?;
    let decl = p.context.include_declaration;
    let mut out = Vec::new();
    let target = match at(good, p.text_document_position.position)? {
        At::Ref(_, t) => t,
        At::Def(i) => match good.index.defs[i].kind {
            DefKind::Rule => {
                // the raises and schedules of the events the rule selects
                for s in good.index.selects.iter().filter(|s| s.rule == i) {
                    let t = Target::Event(s.domain.clone(), s.kind.clone());
                    out.extend(uses(state, uri, good, &t));
                }
                if decl {
                    out.insert(0, location(uri, good, good.index.defs[i].span));
                }
                return Some(out);
            }
            DefKind::Alias => {
                let rid = good.index.aliases.get(&good.index.defs[i].name)?;
                if decl {
                    out.push(location(uri, good, good.index.defs[i].span));
                }
                out.extend(
                    good.index
                        .refs
                        .iter()
                        .filter(|r| matches!(&r.target, Target::Module(m, _) if m == rid))
                        .map(|r| location(uri, good, r.span)),
                );
                return Some(out);
            }
            _ => Target::Def(i),
        },
    };
    if decl {
        out.extend(targets(state, uri, good, &target));
    }
    out.extend(uses(state, uri, good, &target));
    // a module's global: its uses through aliases in other rulesets
    if let Target::Def(i) = target {
        if global(&good.index, &good.index.defs[i].name) == Some(i) {
            let t = Target::Module(good.index.rid.clone(), good.index.defs[i].name.clone());
            out.extend(uses(state, uri, good, &t));
        }
    }
    if let Target::Module(..) = target {
        out.dedup();
    }
    Some(out)
}

/// `name(a, b)` of a native member.
fn signature(domain: &str, m: &Member) -> String {
    let colon = if domain.is_empty() { "" } else { ":" };
    if matches!(m.kind, krl_lang::native::Kind::Property(_)) {
        format!("{domain}{colon}{}", m.name)
    } else {
        format!("{domain}{colon}{}({})", m.name, m.params.join(", "))
    }
}

/// The attributes a `twilio:` verb takes (its `with` modifiers).
fn verb_attrs(name: &str) -> Vec<&'static str> {
    krl_lang::modules::twilio::attrs::verb(name)
        .map(|v| v.attrs.iter().chain(v.more).map(|(a, _)| *a).collect())
        .unwrap_or_default()
}

fn member_doc(domain: &str, m: &Member) -> String {
    let mut s = format!("```krl\n{}\n```", signature(domain, m));
    if !m.doc.is_empty() {
        s.push_str("\n\n");
        s.push_str(m.doc);
    }
    if domain == "twilio" {
        let attrs = verb_attrs(m.name);
        if !attrs.is_empty() {
            s.push_str(&format!("\n\n`with` {}", attrs.join(", ")));
        }
    }
    if m.is_action() && !m.is_function() {
        s.push_str("\n\n(an action)");
    }
    s
}

/// The first line of a definition, as written.
fn decl_line(good: &Good, span: Span) -> &str {
    let text = &good.text[span.start as usize..span.end as usize];
    text.lines().next().unwrap_or("").trim_end()
}

fn rule_names(state: &State, pick: impl Fn(&Good, &super::index::Ref) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (_, g) in goods(state) {
        for r in g.index.refs.iter().filter(|r| pick(g, r)) {
            let rule = r
                .rule
                .map_or("(global)".to_string(), |i| g.index.defs[i].name.clone());
            let s = format!("rule `{rule}` of {}", g.index.rid);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Hover: a member's signature and doc, a definition's line, an entity
/// variable's writers, an event's rules.
pub fn hover(state: &State, p: HoverParams) -> Option<Hover> {
    let uri = &p.text_document_position_params.text_document.uri;
    let good = doc(state, uri)?.good.as_ref()?;
    let reg = krl_lang::engine::registry();
    let (span, text) = match at(good, p.text_document_position_params.position)? {
        At::Ref(span, t) => {
            let text = match &t {
                Target::Member(d, n) => {
                    let m = reg.module(d)?;
                    match m.member(n) {
                        Some(member) => member_doc(d, member),
                        None => format!("`{d}:` {}", m.doc),
                    }
                }
                Target::Library(n) => member_doc("", reg.library(n)?),
                Target::Def(i) => def_text(good, *i),
                Target::Module(rid, name) => {
                    let found = by_rid(state, rid)
                        .find_map(|(_, g)| global(&g.index, name).map(|i| def_text(g, i)));
                    found.unwrap_or_else(|| format!("`{name}` of module {rid}"))
                }
                Target::Entity(name) => {
                    let rid = good.index.rid.clone();
                    let writers =
                        rule_names(state, |g, r| g.index.rid == rid && r.write && r.target == t);
                    if writers.is_empty() {
                        format!("entity variable `{name}` of {rid}: no rule writes it")
                    } else {
                        format!(
                            "entity variable `{name}` of {rid}, written by {}",
                            writers.join(", ")
                        )
                    }
                }
                Target::Event(d, ty) => {
                    let rules: Vec<String> = goods(state)
                        .flat_map(|(_, g)| {
                            g.index
                                .selects
                                .iter()
                                .filter(|s| &s.domain == d && &s.kind == ty)
                                .map(move |s| {
                                    format!(
                                        "rule `{}` of {}",
                                        g.index.defs[s.rule].name, g.index.rid
                                    )
                                })
                        })
                        .collect();
                    if rules.is_empty() {
                        format!("event `{d}:{ty}`: no rule of the workspace selects it")
                    } else {
                        format!("event `{d}:{ty}`, selected by {}", rules.join(", "))
                    }
                }
                Target::Unknown(_) => return None,
            };
            (span, text)
        }
        At::Def(i) => (good.index.defs[i].span, def_text(good, i)),
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(good.lines.range(&good.text, span)),
    })
}

fn def_text(good: &Good, i: usize) -> String {
    let d = &good.index.defs[i];
    let line = match d.kind {
        // a rule: its header and select line
        DefKind::Rule => {
            let rule = good.ast.rules.iter().find(|r| r.name.span == d.span);
            let select = rule
                .and_then(|r| r.select.as_ref())
                .and(rule)
                .and_then(|r| {
                    let text = &good.text[r.span.start as usize..r.span.end as usize];
                    text.lines()
                        .map(str::trim)
                        .find(|l| l.starts_with("select"))
                });
            match select {
                Some(s) => format!("{}\n  {s}", decl_line(good, d.decl)),
                None => decl_line(good, d.decl).to_string(),
            }
        }
        DefKind::Ruleset => format!("ruleset {}", d.name),
        _ => decl_line(good, d.decl).to_string(),
    };
    format!("```krl\n{line}\n```\n\n{} `{}`", d.kind.word(), d.name)
}

/// Completion: members after `domain:` (the ruleset's variables after
/// `ent:`), event domains and types after
/// `select when`, a `twilio:` verb's attributes after `with`, else the
/// names in scope, library functions and modules.
pub fn completion(state: &State, p: CompletionParams) -> Option<CompletionResponse> {
    let uri = &p.text_document_position.text_document.uri;
    let doc = doc(state, uri)?;
    let pos = p.text_document_position.position;
    let off = doc.lines.offset(&doc.text, pos);
    let line_start = doc.text[..off].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &doc.text[line_start..off];
    let word_start = prefix
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .map_or(0, |i| i + 1);
    let before = &prefix[..word_start];
    let reg = krl_lang::engine::registry();
    let item = |label: String, kind, detail: Option<String>, doc: Option<String>| CompletionItem {
        label,
        kind: Some(kind),
        detail,
        documentation: doc.map(|d| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: d,
            })
        }),
        ..CompletionItem::default()
    };
    let mut items = Vec::new();

    // `domain:` members
    if let Some(head) = before.strip_suffix(':') {
        let d_start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .map_or(0, |i| i + 1);
        let domain = &head[d_start..];
        if let Some(m) = reg.module(domain) {
            for member in m.members {
                let kind = if member.is_function() {
                    CompletionItemKind::FUNCTION
                } else {
                    CompletionItemKind::METHOD
                };
                items.push(item(
                    member.name.to_string(),
                    kind,
                    Some(signature(domain, member)),
                    Some(member_doc(domain, member)),
                ));
            }
        } else if matches!(domain, "ent" | "app") {
            // the ruleset's entity (or application) variables
            let mut seen = std::collections::BTreeSet::new();
            for (_, g) in doc.good.iter().flat_map(|g| by_rid(state, &g.index.rid)) {
                for r in &g.index.refs {
                    if let Target::Entity(e) = &r.target {
                        if let Some(name) = e.strip_prefix(domain).and_then(|n| n.strip_prefix(':'))
                        {
                            seen.insert(name.to_string());
                        }
                    }
                }
            }
            for name in seen {
                items.push(item(
                    name,
                    CompletionItemKind::VARIABLE,
                    Some(format!("{domain} variable")),
                    None,
                ));
            }
        } else if let Some(rid) = doc.good.as_ref().and_then(|g| g.index.aliases.get(domain)) {
            for (_, g) in by_rid(state, rid) {
                for name in &g.index.provides {
                    let detail = global(&g.index, name)
                        .map(|i| decl_line(g, g.index.defs[i].decl).to_string());
                    items.push(item(
                        name.clone(),
                        CompletionItemKind::FUNCTION,
                        detail,
                        None,
                    ));
                }
            }
        }
        return Some(CompletionResponse::Array(items));
    }

    // a twilio verb's `with` attributes
    if let Some(v) = prefix.rfind("twilio:") {
        let rest = &prefix[v + 7..];
        let verb: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let words: Vec<&str> = before.split_whitespace().collect();
        let after_with = words.iter().rposition(|w| *w == "with").is_some_and(|i| {
            // `with a = 1 and ` or `with `: at the start of an attribute
            words[i + 1..].is_empty() || words.last() == Some(&"and")
        });
        if after_with {
            for a in verb_attrs(&verb) {
                items.push(item(
                    a.to_string(),
                    CompletionItemKind::PROPERTY,
                    Some(format!("twilio:{verb} attribute")),
                    None,
                ));
            }
            return Some(CompletionResponse::Array(items));
        }
    }

    // event domains and types in `select when ...`
    let words: Vec<&str> = before.split_whitespace().collect();
    let ev_ops = ["when", "or", "and", "before", "then", "after"];
    let in_select = prefix.trim_start().starts_with("select")
        || words.first().is_some_and(|w| ev_ops.contains(w));
    if in_select {
        let mut seen = std::collections::BTreeSet::new();
        let last = words.last().copied();
        if last.is_some_and(|w| ev_ops.contains(&w)) {
            for (_, g) in goods(state) {
                for s in &g.index.selects {
                    seen.insert(s.domain.clone());
                }
            }
            for d in seen {
                items.push(item(
                    d,
                    CompletionItemKind::MODULE,
                    Some("event domain".into()),
                    None,
                ));
            }
            return Some(CompletionResponse::Array(items));
        }
        if words.len() >= 2 && ev_ops.contains(&words[words.len() - 2]) {
            let domain = words[words.len() - 1];
            for (_, g) in goods(state) {
                for s in g.index.selects.iter().filter(|s| s.domain == domain) {
                    seen.insert(s.kind.clone());
                }
            }
            for t in seen {
                items.push(item(
                    t,
                    CompletionItemKind::EVENT,
                    Some(format!("{domain} event type")),
                    None,
                ));
            }
            return Some(CompletionResponse::Array(items));
        }
    }

    // names in scope, then the library and the modules
    if let Some(g) = &doc.good {
        let goff = g.lines.offset(&g.text, pos) as u32;
        let mut names = std::collections::BTreeSet::new();
        for s in g
            .index
            .scopes
            .iter()
            .filter(|s| s.span.start <= goff && goff <= s.span.end)
        {
            for &i in &s.defs {
                let d = &g.index.defs[i];
                if matches!(d.kind, DefKind::Ruleset | DefKind::Rule)
                    || !names.insert(d.name.clone())
                {
                    continue;
                }
                let kind = match d.kind {
                    DefKind::Function | DefKind::Defaction => CompletionItemKind::FUNCTION,
                    DefKind::Alias => CompletionItemKind::MODULE,
                    _ => CompletionItemKind::VARIABLE,
                };
                let detail = format!("{}: {}", d.kind.word(), decl_line(g, d.decl));
                items.push(item(d.name.clone(), kind, Some(detail), None));
            }
        }
    }
    if let Some(lib) = reg.modules().iter().find(|m| m.domain.is_empty()) {
        for m in lib.members {
            items.push(item(
                m.name.to_string(),
                CompletionItemKind::FUNCTION,
                Some(signature("", m)),
                Some(m.doc.to_string()),
            ));
        }
    }
    for m in reg.modules().iter().filter(|m| !m.domain.is_empty()) {
        items.push(item(
            m.domain.to_string(),
            CompletionItemKind::MODULE,
            Some(format!("{}:", m.domain)),
            Some(m.doc.to_string()),
        ));
    }
    Some(CompletionResponse::Array(items))
}

/// The outline: the ruleset, its globals and its rules.
#[allow(deprecated)] // DocumentSymbol::deprecated must be written out
pub fn symbols(state: &State, p: DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
    let good = doc(state, &p.text_document.uri)?.good.as_ref()?;
    let ast = &good.ast;
    let range = |s: Span| good.lines.range(&good.text, s);
    let sym = |name: &str, kind, span: Span, sel: Span, children| DocumentSymbol {
        name: name.to_string(),
        detail: None,
        kind,
        tags: None,
        deprecated: None,
        range: range(span),
        selection_range: range(sel),
        children,
    };
    let mut children = Vec::new();
    for d in &ast.global {
        let kind = match d.value.kind {
            ExprKind::Function { .. } => SymbolKind::FUNCTION,
            ExprKind::Defaction { .. } => SymbolKind::METHOD,
            _ => SymbolKind::VARIABLE,
        };
        children.push(sym(&d.name.name, kind, d.span, d.name.span, None));
    }
    for r in &ast.rules {
        children.push(sym(
            &r.name.name,
            SymbolKind::EVENT,
            r.span,
            r.name.span,
            None,
        ));
    }
    Some(DocumentSymbolResponse::Nested(vec![sym(
        &ast.rid.name,
        SymbolKind::MODULE,
        ast.span,
        ast.rid.span,
        Some(children),
    )]))
}

/// Formatting: the whole document through `krl fmt` (nothing when it is
/// formatted or does not parse).
pub fn formatting(state: &State, p: DocumentFormattingParams) -> Option<Vec<TextEdit>> {
    let doc = doc(state, &p.text_document.uri)?;
    let out = krl_lang::fmt::format(&doc.text).ok()?;
    if out == doc.text {
        return Some(vec![]);
    }
    let end = doc.lines.position(&doc.text, doc.text.len());
    Some(vec![TextEdit::new(
        Range::new(Position::new(0, 0), end),
        out,
    )])
}
