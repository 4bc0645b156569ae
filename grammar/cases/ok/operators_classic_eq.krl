// Classic string comparison operators `eq` and `neq` (krl-language.md 10.3).
ruleset io.example.cases.classic_eq {
  global {
    same = function(a, b) { a eq b }
    differ = function(a, b) { a neq b }
    mixed = 1 + 1 eq "2" && "x" neq "y"
  }
  rule compare_strings {
    select when sms inbound
    send_directive("eq", {
      "same": same(event:attrs{"Body"}, "YES"),
      "differ": differ(event:attrs{"Body"}, "STOP"),
      "mixed": mixed
    })
  }
}
