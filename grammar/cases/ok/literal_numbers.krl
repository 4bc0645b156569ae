// Number literals: integers, leading zeros, decimals and a leading-dot
// fraction. There is no sign in a literal: -4 is unary minus applied to 4.
ruleset io.example.cases.numbers {
  global {
    zero = 0
    answer = 42
    padded = 007
    price = 3.25
    half = .5
    negative = -4
    tiny = 0.125
    sum = half + .25
  }
  rule show_numbers {
    select when device ping
    send_directive("numbers", {"all": [zero, answer, padded, price, half, negative, tiny, sum]})
  }
}
