// `any N (...)`: any N distinct arguments, in any order.
ruleset io.example.cases.event_any {
  rule two_of_three {
    select when any 2 (trio a, trio b, trio c)
    send_directive("two_of_three")
  }
  rule one_of_compound {
    select when any 1 (trio a before trio b, trio c,)
    send_directive("one_of")
  }
}
