//! `krl check` as a user runs it: exit codes, `OK` lines, and errors as
//! `file:line:col: error: ...` with the source line and a caret.

use krl_tests::{krl, ScratchDir};
use std::process::Output;

const GOOD: &str = r#"ruleset io.example.good {
  rule hello {
    select when echo hello
    send_directive("hi")
  }
}
"#;

/// The `}` on line 4 is where an expression should be.
const BAD: &str = r#"ruleset io.example.bad {
  rule hello {
    select when echo hello
    pre { x = 1 + }
  }
}
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(args: &[&std::path::Path]) -> Output {
    krl().arg("check").args(args).output().expect("running krl")
}

#[test]
fn good_file_prints_ok_and_exits_0() {
    let dir = ScratchDir::new("good");
    let good = dir.file("good.krl", GOOD);
    let out = check(&[&good]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: OK\n", good.display()));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn bad_file_reports_file_line_col_and_exits_1() {
    let dir = ScratchDir::new("bad");
    let bad = dir.file("bad.krl", BAD);
    let out = check(&[&bad]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:4:19: error: ", bad.display())),
        "first line: {first}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("  4 |     pre { x = 1 + }\n"),
        "stderr: {stderr}"
    );
    assert!(
        !text(&out.stdout).contains("OK"),
        "stdout: {}",
        text(&out.stdout)
    );
}

#[test]
fn directory_checks_every_file_and_fails_if_one_does() {
    let dir = ScratchDir::new("dir");
    let good = dir.file("a_good.krl", GOOD);
    let bad = dir.file("b_bad.krl", BAD);
    dir.file("notes.txt", "not KRL: ignored");
    let out = check(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(&format!("{}: OK", good.display())));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:19: error: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2 file(s) failed"), "{stderr}");
}

#[test]
fn what_registration_would_refuse_is_refused_by_check_too() {
    let dir = ScratchDir::new("compile-errors");
    let re = dir.file(
        "re.krl",
        "ruleset t.re {\n  global {\n    x = \"a\".match(re#(#)\n  }\n}\n",
    );
    let out = check(&[&re]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}:3:19: error: invalid regular expression re#(#",
            re.display()
        )),
        "{stderr}"
    );
    // an event expression's attribute regex too
    let sel = dir.file(
        "sel.krl",
        "ruleset t.sel {\n  rule r {\n    select when a b x re#[#\n    send_directive(\"x\")\n  }\n}\n",
    );
    let out = check(&[&sel]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("error:"),
        "{}",
        text(&out.stderr)
    );
}
