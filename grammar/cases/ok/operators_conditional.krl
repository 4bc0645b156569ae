// The conditional `test => then | else` has the lowest precedence; chains
// associate to the right in the alternate; a nested conditional in the
// consequent needs parentheses.
ruleset io.example.cases.conditional {
  global {
    size = function(n) {
      n > 100 => "large" |
      n > 10 => "medium" |
      "small"
    }
    nested = function(a, b) { a => (b => 1 | 2) | 3 }
    low_test = function(a, b) { a || b => "either" | "neither" }
    in_arg = function(x) { [x > 0 => "positive" | "not positive"] }
  }
  rule classify_level {
    select when sensor level
    pre {
      level = event:attrs{"level"}.as("Number")
    }
    send_directive("level", {
      "size": size(level),
      "nested": nested(level > 5, level > 50),
      "low": low_test(level, null),
      "sign": in_arg(level)
    })
  }
}
