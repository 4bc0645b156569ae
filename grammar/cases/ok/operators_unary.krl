// Prefix operators bind at 70: tighter than infix, looser than postfix.
// `not a == b` is `(not a) == b`, `-x.length()` is `-(x.length())`.
ruleset io.example.cases.unary {
  global {
    a = false
    b = true
    digits = "12345"
    not_then_eq = not a == b
    not_grouped = not (a == b)
    neg_method = -digits.length()
    neg_mul = -2 * 3
    plus = +5
    double_not = not not b
    not_method = not digits.isnull()
    minus_minus = 4 - -1
  }
  rule unary_ops {
    select when device compute
    send_directive("unary", {
      "all": [not_then_eq, not_grouped, neg_method, neg_mul, plus, double_not, not_method, minus_minus]
    })
  }
}
