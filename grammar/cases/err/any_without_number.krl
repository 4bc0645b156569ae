// `any` needs a literal whole number.
ruleset io.example.err.any_n {
  rule two_of {
    select when any two (trio a, trio b, trio c)
    send_directive("two")
  }
}
