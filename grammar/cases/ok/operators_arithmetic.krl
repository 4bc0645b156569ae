// Arithmetic: * / % bind tighter than + -, all left-associative, and
// string concatenation with +.
ruleset io.example.cases.arithmetic {
  global {
    a = 7
    b = 3
    c = 2
    mul_over_add = a + b * c
    left_assoc_sub = a - b - c
    left_assoc_div = a / b / c
    mod_then_add = a % b + c
    mixed = a * b % c - a / c + 1
    grouped = (a + b) * c
    concat = "area " + a * b + " m2"
    number_then_string = 1 + 2 + "a"
  }
  rule arithmetic {
    select when device compute
    send_directive("arithmetic", {
      "values": [mul_over_add, left_assoc_sub, left_assoc_div, mod_then_add, mixed, grouped],
      "strings": [concat, number_then_string]
    })
  }
}
