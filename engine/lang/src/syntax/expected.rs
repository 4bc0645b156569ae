//! Syntax errors in plain words. When the fast parse fails, the source is
//! parsed again with pest's error detail switched on (it slows parsing, so
//! it is never on for the good path) and the rules and tokens that were
//! expected at the furthest position are turned into a sentence:
//! `expected an expression or "}", found "]"`.
//!
//! Every grammar rule gets a human name through the exhaustive matches
//! below, so a new rule cannot be added without deciding how it reads.

use super::ast::Span;
use super::diag::Diagnostic;
use super::grammar::{KrlParser, Rule as R};
use pest::error::InputLocation;
use pest::Parser as _;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Serialises the detailed re-parses: pest's detail switch is global.
static DETAIL: Mutex<()> = Mutex::new(());

/// The diagnostic for a ruleset that does not parse.
#[cold]
pub(crate) fn syntax_error(src: &str) -> Diagnostic {
    syntax_error_for(src, R::file)
}

/// The diagnostic for `src` failing to parse as `entry`.
#[cold]
pub(crate) fn syntax_error_for(src: &str, entry: R) -> Diagnostic {
    let err = {
        let _guard = DETAIL.lock().unwrap_or_else(|e| e.into_inner());
        pest::set_error_detail(true);
        let result = KrlParser::parse(entry, src).map(|_| ());
        pest::set_error_detail(false);
        match result {
            Err(e) => e,
            Ok(()) => {
                return Diagnostic::error(
                    Span::new(0, 0),
                    "syntax error (the parser disagreed with itself)",
                )
            }
        }
    };
    let located = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // pest locates the error at the last rule that started; the detailed
    // attempts know the furthest token, which is the better place.
    let pos = err
        .parse_attempts()
        .map_or(located, |a| a.max_position.max(located))
        .min(src.len());
    let scan = scan(src);
    if let Some((open, len, what, close)) = scan.unterminated {
        if open <= pos {
            return Diagnostic::error(
                Span::new(open, open + len),
                format!("unterminated {what}: missing the closing `{close}`"),
            );
        }
    }
    if let Some(d) = glued_number(src, pos) {
        return d;
    }
    let mut wanted: BTreeSet<&'static str> = BTreeSet::new();
    let mut tokens: BTreeSet<&'static str> = BTreeSet::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        if pos == located {
            wanted.extend(positives.iter().filter_map(|r| describe(*r)));
        }
    }
    if let Some(attempts) = err.parse_attempts() {
        for stack in attempts.call_stacks() {
            // A token attempted directly inside a block rule (its `}`) is
            // listed as a token; the block's own name would mislead.
            let rule = stack.deepest.get_rule().copied();
            if rule.is_some_and(is_container) {
                continue;
            }
            wanted.extend(rule.and_then(describe));
        }
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            if let Some(p) = PUNCTUATION.iter().find(|p| **p == token) {
                tokens.insert(p);
            }
        }
    }
    if src[..pos].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
        // a word was just read; "expected a name" would only mean "a longer one"
        for w in ["a name", "an event domain", "a number", "a whole number"] {
            wanted.remove(w);
        }
    }
    let found = found_at(src, pos);
    if let Some(d) = special_case(src, pos, &found, &wanted, &tokens) {
        return d;
    }
    let mut message = expected_message(wanted, tokens, &found);
    if pos >= src.trim_end().len() {
        if let Some(open) = scan.unclosed_brace {
            let (line, col) = super::LineIndex::new(src).line_col(src, open);
            message.push_str(&format!(" (the `{{` at {line}:{col} is never closed)"));
        }
    }
    let end = pos + found_len(src, pos);
    Diagnostic::error(Span::new(pos, end), message)
}

/// Punctuation worth naming in "expected ..."; tokens that only start a
/// literal or a name (`"`, `$`, `<<`...) are left out, the literal's
/// description says it better.
const PUNCTUATION: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ",", ";", ":", "=", ":=", "=>", "|", "<-", ">>", "+=", "-=",
];

/// Tokens that continue an expression that could already end: naming them
/// all ("an operator, `(`, `.`...") hides what was really missing.
const CONTINUATIONS: &[&str] = &["(", "[", "{", "=>", "|", ":", ";"];

fn expected_message(
    mut wanted: BTreeSet<&'static str>,
    mut tokens: BTreeSet<&'static str>,
    found: &str,
) -> String {
    let has = |w: &BTreeSet<&str>, prefix: &str| w.iter().any(|d| d.starts_with(prefix));
    if tokens.contains(":=") && found == "`=`" {
        return "expected `:=`, found `=`: entity and application variables are assigned with `:=`"
            .into();
    }
    if wanted.contains("an operator") {
        // after a complete operand: only its continuations remain
        wanted.remove("an expression");
    }
    let closers = wanted.len() > 1
        || tokens.iter().any(|t| [")", "]", "}", ","].contains(t))
        || wanted.iter().any(|d| {
            d.starts_with('`') && d.len() > 2 && !d[1..].starts_with(['(', '.', '[', '{'])
        });
    if closers {
        // the expression could have ended here: drop what would continue it
        wanted.remove("an operator");
        wanted.retain(|d| !["`(`", "`.`", "`[`", "`{`"].contains(d));
        tokens.retain(|t| !CONTINUATIONS.contains(t));
    }
    if has(&wanted, "an expression") || has(&wanted, "an event expression") {
        tokens.retain(|t| !["(", "[", "{"].contains(t));
    }
    if has(&wanted, "a declaration") {
        wanted.remove("a name");
        tokens.remove("=");
    }
    if has(&wanted, "a map entry") {
        wanted.remove("a string");
    }
    if has(&wanted, "a meta property") {
        // the description lists them; the keyword items repeat it
        wanted.retain(|d| {
            !(d.starts_with('`') && d[1..].starts_with(char::is_alphabetic)) || *d == "`}`"
        });
    }
    let mut items: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    // descriptions ("an expression") before keywords and tokens
    items.sort_by_key(|s| (s.starts_with('`'), s.clone()));
    items.extend(tokens.iter().map(|t| format!("`{t}`")));
    items.dedup();
    if items.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", one_of(&items))
    }
}

/// The identifier-like run of characters around byte `at`: (start, end).
fn word_around(src: &str, at: usize) -> Option<(usize, usize)> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let at = at.min(src.len());
    let start = src[..at]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = src[at..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(src.len(), |(i, _)| at + i);
    (start < end).then_some((start, end))
}

/// The word that ends just before `pos` (skipping layout), if any.
fn word_before(src: &str, pos: usize) -> Option<(usize, usize)> {
    let trimmed = src[..pos.min(src.len())].trim_end();
    word_around(src, trimmed.len()).filter(|(_, end)| *end == trimmed.len())
}

/// `1e3`, `10px`: a number glued to letters, at or just before the error.
fn glued_number(src: &str, pos: usize) -> Option<Diagnostic> {
    for (start, end) in [word_around(src, pos), word_before(src, pos)]
        .into_iter()
        .flatten()
    {
        let w = &src[start..end];
        // in a rid (`io.2fa`) a digit-led segment is a different mistake
        let in_rid = src[..start].ends_with(['.', '-']);
        if !in_rid && w.starts_with(|c: char| c.is_ascii_digit()) && w.contains(char::is_alphabetic)
        {
            let letter = start + w.find(char::is_alphabetic).expect("contains a letter");
            return Some(Diagnostic::error(
                Span::new(start, end),
                format!(
                    "`{w}` is not a number: a number cannot be followed directly by a letter (`{}`), and KRL has no exponent notation",
                    &src[letter..end]
                ),
            ));
        }
    }
    None
}

/// Mistakes common enough to deserve their own words.
fn special_case(
    src: &str,
    pos: usize,
    found: &str,
    wanted: &BTreeSet<&'static str>,
    tokens: &BTreeSet<&'static str>,
) -> Option<Diagnostic> {
    let at =
        |start: usize, end: usize, msg: String| Some(Diagnostic::error(Span::new(start, end), msg));
    let here = (pos, pos + found_len(src, pos));
    // a reserved or operator word where a name was expected
    let name_wanted = wanted.is_empty()
        || wanted
            .iter()
            .any(|d| d.starts_with("a declaration") || *d == "a name");
    for (start, end) in [word_around(src, pos), word_before(src, pos)]
        .into_iter()
        .flatten()
    {
        let w = &src[start..end];
        if crate::syntax::words::is_reserved(w) && name_wanted {
            let kind = if crate::syntax::words::RESERVED.contains(&w) {
                "a reserved word"
            } else {
                "an operator word"
            };
            return at(start, end, format!(
                "expected a declaration (name = value), found `{w}`: `{w}` is {kind} and cannot name a variable"
            ));
        }
    }
    if let Some((start, end)) = word_before(src, pos) {
        let w = &src[start..end];
        if crate::syntax::words::OPERATOR_WORDS.contains(&w) && tokens.contains(":") {
            return at(start, end, format!(
                "expected an expression, found `{w}`: `{w}` is an operator word and cannot be used as a variable"
            ));
        }
    }
    // `if c then` followed by `fired {`: the keyword was read as an action
    if matches!(found, "`{`" | "`;`") && (wanted.contains("an action") || tokens.contains("=>")) {
        if let Some((start, end)) = word_before(src, pos) {
            let w = &src[start..end];
            if [
                "fired", "notfired", "always", "else", "finally", "pre", "foreach", "select",
            ]
            .contains(&w)
            {
                return at(start, end, format!(
                    "expected an action, found `{w}`: `pre`, the action block and the postlude come in that order, once each"
                ));
            }
        }
    }
    if found == "`{`" && word_before(src, pos).is_some_and(|(s, e)| &src[s..e] == "choose") {
        return at(here.0, here.1, "expected the expression `choose` compares with its labels, found `{`: write `choose expr { label => action }`".into());
    }
    match found {
        "`=>`" => at(here.0, here.1, "unexpected `=>`: a conditional inside the `then` branch of another needs parentheses: `a => (b => 1 | 2) | 3`".into()),
        "`ruleset`" if wanted.contains("the end of the file") => at(here.0, here.1,
            "expected the end of the file, found `ruleset`: a file holds exactly one ruleset".into()),
        "`(`" if wanted.contains("a postlude statement") || tokens.contains(":=") => {
            let (start, end) = word_before(src, pos)?;
            at(start, end, format!(
                "found `{}`: actions cannot run in a postlude; move it to the rule's action block, or raise an event",
                &src[start..end]
            ))
        }
        "`}`" if wanted.contains("`return`") => at(here.0, here.1,
            "expected the function's result expression, found `}`: a function body ends with an expression".into()),
        "`rule`" | "`global`" | "`meta`" => {
            let open = scan(&src[..pos]).unclosed_brace?;
            // the ruleset's own brace is open legitimately
            let first = src.find('{')?;
            if open == first {
                return None;
            }
            let (line, col) = super::LineIndex::new(src).line_col(src, open);
            at(here.0, here.1, format!("expected `}}`, found {found}: the `{{` at {line}:{col} is never closed"))
        }
        _ => None,
    }
}

/// Rules that hold a block or list between brackets.
fn is_container(r: R) -> bool {
    matches!(
        r,
        R::file
            | R::ruleset
            | R::meta_block
            | R::global_block
            | R::dispatch_block
            | R::rule
            | R::prelude
            | R::stmt_block
            | R::every_block
            | R::sample_block
            | R::choose_block
            | R::bare_block
            | R::map
            | R::array
            | R::call_args
            | R::params
            | R::function_lit
            | R::defaction_lit
    )
}

/// `a`, `a or b`, `a, b or c`
fn one_of(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What the parser stopped at, for the message.
/// Operators found as one token in messages (longest first).
const MULTI: &[&str] = &[
    "<=>", "=>", ":=", "==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "+=", "-=", "#{",
];

fn found_at(src: &str, pos: usize) -> String {
    let rest = &src[pos.min(src.len())..];
    if let Some(m) = MULTI.iter().find(|m| rest.starts_with(**m)) {
        return format!("`{m}`");
    }
    let Some(c) = rest.chars().next() else {
        return "the end of the file".to_string();
    };
    if c == '\n' || c == '\r' {
        return "the end of the line".to_string();
    }
    if c.is_whitespace() {
        return "a space".to_string();
    }
    if c.is_alphanumeric() || c == '_' || c == '$' {
        let w: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        format!("`{w}`")
    } else {
        format!("`{c}`")
    }
}

fn found_len(src: &str, pos: usize) -> usize {
    let rest = &src[pos.min(src.len())..];
    if let Some(m) = MULTI.iter().find(|m| rest.starts_with(**m)) {
        return m.len();
    }
    match rest.chars().next() {
        None => 0,
        Some(c) if c.is_alphanumeric() || c == '_' || c == '$' => rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '$'))
            .map_or(rest.len(), |(i, _)| i),
        Some(c) => c.len_utf8(),
    }
}

/// What a rough lexical scan finds: the last unclosed `{`, and the first
/// string, chevron, regex or block comment that never closes (reported at
/// its opening, which is where the user has to look).
struct Scan {
    unclosed_brace: Option<usize>,
    unterminated: Option<(usize, usize, &'static str, &'static str)>,
}

fn scan(src: &str) -> Scan {
    let b = src.as_bytes();
    // index just past `close`, or None when the text ends first
    let skip_to = |from: usize, close: &[u8], escapes: bool| -> Option<usize> {
        let mut j = from;
        while j < b.len() {
            if escapes && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j..].starts_with(close) {
                return Some(j + close.len());
            }
            j += 1;
        }
        None
    };
    let mut open = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let delimited: Option<(usize, &[u8], bool, &'static str, &'static str)> =
            if rest.starts_with(b"//") {
                i = skip_to(i, b"\n", false).unwrap_or(b.len());
                continue;
            } else if rest.starts_with(b"/*") {
                Some((2, b"*/", false, "block comment", "*/"))
            } else if rest.starts_with(b"<<") {
                Some((2, b">>", true, "chevron string", ">>"))
            } else if rest.starts_with(b"re#") {
                Some((3, b"#", true, "regular expression", "#"))
            } else if rest[0] == b'"' {
                Some((1, b"\"", true, "string", "\""))
            } else {
                None
            };
        match delimited {
            Some((skip, close, escapes, what, shown)) => match skip_to(i + skip, close, escapes) {
                Some(next) => i = next,
                None => {
                    return Scan {
                        unclosed_brace: open.pop(),
                        unterminated: Some((i, skip, what, shown)),
                    }
                }
            },
            None => {
                match rest[0] {
                    b'{' => open.push(i),
                    b'}' => {
                        open.pop();
                    }
                    _ => {}
                }
                i += 1;
            }
        }
    }
    Scan {
        unclosed_brace: open.pop(),
        unterminated: None,
    }
}

/// The keyword a `k_*` rule matches, or `None` for other rules.
pub(crate) fn keyword(rk: R) -> Option<&'static str> {
    match rk {
        R::k_ruleset => Some("ruleset"),
        R::k_meta => Some("meta"),
        R::k_global => Some("global"),
        R::k_rule => Some("rule"),
        R::k_is => Some("is"),
        R::k_active => Some("active"),
        R::k_inactive => Some("inactive"),
        R::k_select => Some("select"),
        R::k_when => Some("when"),
        R::k_where => Some("where"),
        R::k_within => Some("within"),
        R::k_using => Some("using"),
        R::k_foreach => Some("foreach"),
        R::k_setting => Some("setting"),
        R::k_pre => Some("pre"),
        R::k_if => Some("if"),
        R::k_then => Some("then"),
        R::k_every => Some("every"),
        R::k_sample => Some("sample"),
        R::k_choose => Some("choose"),
        R::k_fired => Some("fired"),
        R::k_notfired => Some("notfired"),
        R::k_else => Some("else"),
        R::k_finally => Some("finally"),
        R::k_always => Some("always"),
        R::k_raise => Some("raise"),
        R::k_event => Some("event"),
        R::k_for => Some("for"),
        R::k_attributes => Some("attributes"),
        R::k_schedule => Some("schedule"),
        R::k_at => Some("at"),
        R::k_repeat => Some("repeat"),
        R::k_log => Some("log"),
        R::k_error => Some("error"),
        R::k_last => Some("last"),
        R::k_on => Some("on"),
        R::k_off => Some("off"),
        R::k_final => Some("final"),
        R::k_clear => Some("clear"),
        R::k_set => Some("set"),
        R::k_from => Some("from"),
        R::k_name => Some("name"),
        R::k_description => Some("description"),
        R::k_author => Some("author"),
        R::k_version => Some("version"),
        R::k_logging => Some("logging"),
        R::k_shares => Some("shares"),
        R::k_share => Some("share"),
        R::k_provides => Some("provides"),
        R::k_provide => Some("provide"),
        R::k_configure => Some("configure"),
        R::k_use => Some("use"),
        R::k_module => Some("module"),
        R::k_alias => Some("alias"),
        R::k_with => Some("with"),
        R::k_and => Some("and"),
        R::k_or => Some("or"),
        R::k_before => Some("before"),
        R::k_after => Some("after"),
        R::k_between => Some("between"),
        R::k_not => Some("not"),
        R::k_any => Some("any"),
        R::k_count => Some("count"),
        R::k_key => Some("key"),
        R::k_keys => Some("keys"),
        R::k_errors => Some("errors"),
        R::k_to => Some("to"),
        R::k_function => Some("function"),
        R::k_defaction => Some("defaction"),
        R::k_return => Some("return"),
        R::k_returns => Some("returns"),
        R::k_dispatch => Some("dispatch"),
        R::k_dataset => Some("dataset"),
        R::k_datasource => Some("datasource"),
        R::k_cachable => Some("cachable"),
        R::k_emit => Some("emit"),
        R::k_css => Some("css"),
        R::k_authz => Some("authz"),
        R::k_require => Some("require"),
        R::k_sharing => Some("sharing"),
        R::k_javascript => Some("javascript"),
        R::k_resource => Some("resource"),
        R::k_pageview => Some("pageview"),
        R::k_web => Some("web"),
        R::k_mark => Some("mark"),
        R::k_forget => Some("forget"),
        R::k_in => Some("in"),
        _ => None,
    }
}

/// How a rule reads in "expected ..." (`None`: not worth mentioning).
fn describe(rk: R) -> Option<&'static str> {
    if let Some(k) = keyword(rk) {
        return Some(keyword_text(k));
    }
    match rk {
        R::EOI => Some("the end of the file"),
        R::WHITESPACE | R::COMMENT => None,
        R::word => Some("a name"),
        R::reserved => None,
        R::ident => Some("a name"),
        R::number => Some("a number"),
        R::int => Some("a whole number"),
        R::string => Some("a string"),
        R::dq_text => None,
        R::sq_string => Some("a string"),
        R::sq_text => None,
        R::beesting => None,
        R::chevron => Some("a chevron string (<<...>>)"),
        R::chevron_text => None,
        R::regex => Some("a regular expression (re#...#)"),
        R::regex_body => None,
        R::regex_slash => None,
        R::slash_body => None,
        R::regex_hash => None,
        R::regex_flags => None,
        R::js_literal => None,
        R::js_body => None,
        R::xdi_literal => None,
        R::xdi_body => None,
        R::boolean => Some("`true` or `false`"),
        R::null => Some("`null`"),
        R::file => Some("`ruleset`"),
        R::expr_file => Some("an expression"),
        R::ruleset => Some("`ruleset`"),
        R::rid => Some("a ruleset id (like io.example.name)"),
        R::rid_list => Some("a ruleset id"),
        R::ruleset_version => Some("`version`"),
        R::meta_block => Some("`meta`"),
        R::meta_name => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_description => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_author => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_version => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_logging => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_shares => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_provides_keys => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_provides => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_configure => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_use => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::use_version => Some("`version`"),
        R::use_alias => Some("`alias`"),
        R::use_with => Some("`with`"),
        R::meta_key => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_errors_to => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_use_ignored => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::meta_ignored => Some("a meta property (name, description, author, version, shares, provides, configure, use, key, logging, errors)"),
        R::word_list => Some("a name"),
        R::decl_list => Some("a declaration (name = value)"),
        R::dispatch_block => Some("`dispatch`"),
        R::global_block => Some("`global`"),
        R::classic_dataset => Some("a declaration (name = value)"),
        R::classic_emit => Some("a declaration (name = value)"),
        R::decl => Some("a declaration (name = value)"),
        R::rule => Some("a rule"),
        R::rule_state => Some("`is active` or `is inactive`"),
        R::select => Some("`select`"),
        R::select_when => Some("`when` or `where`"),
        R::select_where => Some("`where`"),
        R::select_using => Some("`when` or `where`"),
        R::within => Some("`within`"),
        R::time_unit => Some("a time unit (seconds, minutes, hours, days, weeks, months, years)"),
        R::event_expr => Some("an event expression"),
        R::ev_op => Some("an event operator (or, and, before, then, after)"),
        R::ev_unary => Some("an event expression"),
        R::ev_between => Some("`between`"),
        R::ev_group => Some("an event expression"),
        R::ev_any => Some("an event expression"),
        R::ev_aggregate => Some("an event expression"),
        R::aggregator => Some("an aggregator (max, min, sum, avg, push)"),
        R::agg_op => Some("an aggregator (max, min, sum, avg, push)"),
        R::ev_web => Some("an event expression"),
        R::ev_simple => Some("an event expression"),
        R::ev_domain => Some("an event domain"),
        R::attr_match => Some("an attribute matcher (name re#...#)"),
        R::ev_where => Some("`where`"),
        R::setting => Some("`setting`"),
        R::foreach => Some("`foreach`"),
        R::prelude => Some("`pre`"),
        R::action_block => Some("an action"),
        R::action_cond => Some("`if`"),
        R::every_block => Some("`every`"),
        R::sample_block => Some("`sample`"),
        R::choose_block => Some("`choose`"),
        R::choose_expr => Some("an expression"),
        R::bare_block => Some("an action"),
        R::action_list => Some("an action"),
        R::action => Some("an action"),
        R::action_label => Some("an action"),
        R::action_callee => None,
        R::ev_type => Some("an event type"),
        R::action_with => Some("`with`"),
        R::postlude_fired => Some("a postlude (fired, notfired, always)"),
        R::postlude_notfired => Some("a postlude (fired, notfired, always)"),
        R::postlude_always => Some("a postlude (fired, notfired, always)"),
        R::postlude_else => Some("`else`"),
        R::postlude_finally => Some("`finally`"),
        R::stmt_block => Some("`{`"),
        R::stmt => Some("a postlude statement"),
        R::guard_if => Some("`if`"),
        R::guard_on_final => Some("`on final`"),
        R::persistent => Some("an entity variable (ent:name)"),
        R::persistent_path => None,
        R::persistent_assign => Some("a postlude statement"),
        R::persistent_increment => Some("a postlude statement"),
        R::increment_op => None,
        R::other_assign => Some("a postlude statement"),
        R::clear_stmt => Some("a postlude statement"),
        R::classic_set => Some("a postlude statement"),
        R::raise_stmt => Some("a postlude statement"),
        R::raise_static => Some("an event domain"),
        R::raise_dynamic => Some("`event`"),
        R::raise_for => Some("`for`"),
        R::raise_attrs => Some("`attributes`"),
        R::schedule_stmt => Some("a postlude statement"),
        R::schedule_at => Some("`at` or `repeat`"),
        R::schedule_repeat => Some("`at` or `repeat`"),
        R::log_stmt => Some("a postlude statement"),
        R::error_stmt => Some("a postlude statement"),
        R::log_level => Some("a log level (error, warn, info, debug)"),
        R::last_stmt => Some("a postlude statement"),
        R::classic_trail => Some("a postlude statement"),
        R::expr => Some("an expression"),
        R::binary => Some("an expression"),
        R::op_or => Some("an operator"),
        R::op_and => Some("an operator"),
        R::op_cmp3 => Some("an operator"),
        R::op_le => Some("an operator"),
        R::op_ge => Some("an operator"),
        R::op_in => Some("an operator"),
        R::op_lt => Some("an operator"),
        R::op_gt => Some("an operator"),
        R::op_eq => Some("an operator"),
        R::op_ne => Some("an operator"),
        R::op_like => Some("an operator"),
        R::op_cmp => Some("an operator"),
        R::op_seq => Some("an operator"),
        R::op_sneq => Some("an operator"),
        R::op_add => Some("an operator"),
        R::op_sub => Some("an operator"),
        R::op_mul => Some("an operator"),
        R::op_div => Some("an operator"),
        R::op_mod => Some("an operator"),
        R::unary => Some("an expression"),
        R::op_not => Some("an expression"),
        R::op_neg => Some("an expression"),
        R::op_pos => Some("an expression"),
        R::postfix => Some("an expression"),
        R::call_args => Some("`(`"),
        R::named_arg => Some("an argument"),
        R::path_get => Some("`{`"),
        R::index_get => Some("`[`"),
        R::method_call => Some("`.`"),
        R::method_name => Some("a function name"),
        R::property_get => Some("`.`"),
        R::domain_ident => Some("an expression"),
        R::array => Some("an expression"),
        R::map => Some("an expression"),
        R::map_entry => Some("a map entry (\"key\": value)"),
        R::function_lit => Some("an expression"),
        R::params => Some("`(`"),
        R::param => Some("a parameter name"),
        R::defaction_lit => Some("an expression"),
        R::defaction_configure => Some("`configure`"),
        R::defaction_return => Some("`return`"),        _ => keyword(rk).map(keyword_text),
    }
}

/// "`select`" for `select`, leaked once per keyword (a fixed, small set).
fn keyword_text(k: &'static str) -> &'static str {
    static CACHE: Mutex<Vec<(&'static str, &'static str)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = cache.iter().find(|(kw, _)| *kw == k) {
        return t;
    }
    let t: &'static str = Box::leak(format!("`{k}`").into_boxed_str());
    cache.push((k, t));
    t
}
