//! The layout rules of docs/fmt.md, one small case each.

use super::format;

fn fmt(src: &str) -> String {
    let out = format(src).expect("parses");
    assert_eq!(format(&out).expect("output parses"), out, "idempotent");
    out
}

#[test]
fn blocks_break_and_indent() {
    let src = "ruleset a{meta{name \"x\" shares f}global{f=function(x){x+1}}rule r{select when echo hello send_directive(\"hi\",{\"a\":1})fired{ent:n:=1}}}";
    assert_eq!(
        fmt(src),
        r#"ruleset a {
  meta {
    name "x"
    shares f
  }

  global {
    f = function(x) { x + 1 }
  }

  rule r {
    select when echo hello
    send_directive("hi", {"a": 1})
    fired {
      ent:n := 1
    }
  }
}
"#
    );
}

#[test]
fn comments_stay_where_they_were() {
    let src = "// head\nruleset a { // after the brace\n  rule r { select when a b // trailing\n\n\n    // own line\n    always { ent:x := 1 /* inline */ + 2\n    // last\n    } } }\n// tail\n";
    assert_eq!(
        fmt(src),
        r#"// head
ruleset a { // after the brace
  rule r {
    select when a b // trailing

    // own line
    always {
      ent:x := 1 /* inline */ + 2
      // last
    }
  }
}
// tail
"#
    );
}

#[test]
fn classic_forms_are_kept() {
    let src = "ruleset a { meta { key twilio {\"sid\": \"x\"} } rule r is inactive { select when pageview \".*\" setting(u)\n  { twilio:say(\"hi\") with voice = \"man\" and language = \"en\"; twilio:hangup; }\n  fired { set ent:n 1; ent:c += 1 from 0; } } }";
    assert_eq!(
        fmt(src),
        r#"ruleset a {
  meta {
    key twilio {"sid": "x"}
  }

  rule r is inactive {
    select when pageview ".*" setting(u)
    { twilio:say("hi") with voice = "man" and language = "en"; twilio:hangup; }
    fired {
      set ent:n 1;
      ent:c += 1 from 0;
    }
  }
}
"#
    );
}

#[test]
fn groups_break_as_the_source_did() {
    let src = "ruleset a { global { m = {\"a\": 1,\n\"b\": [1, 2]}\n n = f(1, g(2,\n3)) s = a +\n (b\n - c) } }";
    assert_eq!(
        fmt(src),
        r#"ruleset a {
  global {
    m = {
      "a": 1,
      "b": [1, 2]
    }
    n = f(1, g(
      2,
      3
    ))
    s = a +
      (b
        - c)
  }
}
"#
    );
}
