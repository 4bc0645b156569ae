//! Where syntax errors are reported and what they say, for the mistakes in
//! `grammar/cases/err/`. Each row gives the 1-based line and column of the
//! diagnostic's start and a piece of text its message must contain.
//!
//! Where a message once misled, the row also names text it must not
//! contain.

use krl_lang::engine::check as check_ruleset;
use krl_lang::syntax::{parse_ruleset, Diagnostic, LineIndex};
use std::path::Path;

/// (file in grammar/cases/err, line, column, text the message contains,
/// text it must not contain or "")
type Row = (&'static str, usize, usize, &'static str, &'static str);

const ROWS: &[Row] = &[
    (
        "missing_ruleset_brace.krl",
        7,
        1,
        "the `{` at 2:38 is never closed",
        "",
    ),
    (
        "missing_map_brace.krl",
        5,
        48,
        "expected `,` or `}`, found `)`",
        "",
    ),
    (
        "missing_call_paren.krl",
        6,
        3,
        "expected `)` or `,`, found `}`",
        "",
    ),
    ("unterminated_string.krl", 4, 16, "unterminated string", ""),
    (
        "unterminated_chevron.krl",
        4,
        14,
        "unterminated chevron string",
        "",
    ),
    (
        "unterminated_block_comment.krl",
        3,
        3,
        "unterminated block comment",
        "",
    ),
    (
        "unterminated_regex.krl",
        4,
        34,
        "unterminated regular expression",
        "",
    ),
    ("double_semicolon_pre.krl", 6, 32, "found `;`", ""),
    (
        "global_bare_expression.krl",
        5,
        13,
        "expected `=`, found `.`",
        "",
    ),
    (
        "if_without_then.krl",
        5,
        28,
        "expected `then`, found `every`",
        "",
    ),
    ("raise_missing_event.krl", 6, 19, "expected `event`", ""),
    ("meta_unknown_key.krl", 5, 5, "found `colour`", ""),
    ("map_bare_word_key.krl", 4, 15, "expected a map entry", ""),
    ("map_number_key.krl", 4, 15, "expected a map entry", ""),
    ("array_missing_comma.krl", 4, 28, "expected `,` or `]`", ""),
    ("semicolon_after_select.krl", 4, 27, "found `;`", ""),
    ("meta_after_global.krl", 6, 3, "found `meta`", ""),
    ("rid_digit_segment.krl", 2, 20, "found `2fa`", ""),
    ("bang_operator.krl", 5, 12, "found `!`", ""),
    ("unsupported_character.krl", 5, 36, "found `@`", ""),
    ("unknown_time_unit.krl", 4, 55, "expected a time unit", ""),
    ("within_missing_unit.krl", 5, 5, "expected a time unit", ""),
    (
        "any_without_number.krl",
        4,
        21,
        "expected a whole number, found `two`",
        "",
    ),
    ("else_after_always.krl", 7, 7, "found `else`", ""),
    (
        "action_after_postlude.krl",
        8,
        5,
        "found `send_directive`",
        "",
    ),
    (
        "reserved_word_declared.krl",
        4,
        5,
        "`null` is a reserved word",
        "",
    ),
    (
        "rule_without_name.krl",
        3,
        8,
        "expected a name, found `{`",
        "",
    ),
    (
        "assign_local_colon_equals.krl",
        6,
        7,
        "only entity (`ent:`), application (`app:`) and call session (`session:`) variables can be assigned",
        "",
    ),
    (
        "clear_non_persistent.krl",
        6,
        13,
        "only entity (`ent:`), application (`app:`) and call session (`session:`)",
        "",
    ),
    (
        "defaction_returns_two.krl",
        6,
        7,
        "a defaction returns one value",
        "",
    ),
    (
        "action_setting_two_names.krl",
        5,
        78,
        "an action returns one value",
        "",
    ),
    ("choose_missing_label.krl", 7, 7, "needs a label", ""),
    (
        "choose_without_expression.krl",
        5,
        12,
        "expression",
        "map entry",
    ),
    (
        "conditional_nested_unparenthesised.krl",
        4,
        36,
        "`=>`",
        "unexpected `=`",
    ),
    (
        "if_then_without_action.krl",
        6,
        5,
        "found `fired`",
        "action name",
    ),
    ("second_pre_block.krl", 8, 5, "found `pre`", "action name"),
    (
        "postlude_action.krl",
        6,
        7,
        "found `send_directive`",
        "`:=`",
    ),
    (
        "missing_rule_brace.krl",
        7,
        3,
        "never closed",
        "expected a rule",
    ),
    ("global_stray_semicolon.krl", 5, 5, "found `;`", "`global`"),
    (
        "two_rulesets.krl",
        4,
        1,
        "expected the end of the file, found `ruleset`",
        "or `ruleset`",
    ),
    ("number_exponent.krl", 4, 18, "`e3`", "found `}`"),
    (
        "operator_word_variable.krl",
        6,
        7,
        "`count`",
        "expected an expression or `:`",
    ),
    (
        "select_missing_expression.krl",
        5,
        19,
        "event type",
        "event domain",
    ),
    (
        "function_without_result.krl",
        6,
        5,
        "expression",
        "expected a name or `return`",
    ),
    (
        "twilio_unknown_attribute.krl",
        5,
        30,
        "`twilio:say` has no attribute `vioce` (it takes voice, language, loop)",
        "",
    ),
    (
        "twilio_bad_voice.krl",
        5,
        33,
        "`twilio:say` attribute `voice` must be man, woman, alice",
        "",
    ),
    (
        "twilio_bad_loop.krl",
        5,
        61,
        "`twilio:play` attribute `loop` must be a whole number ≥ 0, not \"x\"",
        "",
    ),
    (
        "twilio_bad_method.krl",
        10,
        73,
        "`twilio:gather_start` attribute `method` must be GET or POST, not \"PUT\"",
        "",
    ),
    (
        "twilio_raw_not_well_formed.krl",
        6,
        25,
        "`twilio:raw_response` needs well-formed XML: 1 element(s) not closed",
        "",
    ),
    (
        "twilio_unknown_action.krl",
        11,
        14,
        "unknown action `twilio:gatherStart` (did you mean `twilio:gather_start`?): the twilio actions are say, play,",
        "",
    ),
];

fn case_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammar/cases/err")
}

/// The first error for the file: the syntax error, or else the first check
/// error.
fn first_error(file: &str) -> (String, Diagnostic) {
    let path = case_dir().join(file);
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let d = match parse_ruleset(&src) {
        Err(d) => d,
        Ok(rs) => check_ruleset(&rs)
            .into_iter()
            .find(Diagnostic::is_error)
            .unwrap_or_else(|| panic!("{file} must be rejected")),
    };
    (src, d)
}

/// Checks one row; returns a description of the mismatch, if any.
fn verify(file: &str, line: usize, col: usize, want: &str, avoid: Option<&str>) -> Option<String> {
    let (src, d) = first_error(file);
    let at = LineIndex::new(&src).line_col(&src, d.span.start as usize);
    let ok = at == (line, col)
        && d.message.contains(want)
        && !avoid.is_some_and(|a| d.message.contains(a));
    (!ok).then(|| {
        format!(
            "{file}: want {line}:{col} containing {want:?}{}\n{}",
            avoid.map_or(String::new(), |a| format!(" and not {a:?}")),
            d.render(file, &src)
        )
    })
}

#[test]
fn syntax_error_positions_and_messages() {
    let failures: Vec<String> = ROWS
        .iter()
        .filter_map(|&(file, line, col, want, avoid)| {
            verify(file, line, col, want, (!avoid.is_empty()).then_some(avoid))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every err case appears in exactly one table, so a new case gets an
/// explicit expectation.
#[test]
fn every_err_case_has_a_row() {
    let listed: Vec<&str> = ROWS.iter().map(|r| r.0).collect();
    let mut unique = listed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "a case is listed twice");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(case_dir()).expect("err case directory") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".krl") && !listed.contains(&name.as_ref()) {
            missing.push(name.into_owned());
        }
    }
    assert!(missing.is_empty(), "err cases without a row: {missing:?}");
}
