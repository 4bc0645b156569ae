// `within` needs a time unit after the amount.
ruleset io.example.err.within_unit {
  rule quick {
    select when door knock before door enter within 30
    send_directive("quick")
  }
}
