// `fortnights` is not a time unit.
ruleset io.example.err.unit {
  rule quick {
    select when door knock before door enter within 2 fortnights
    send_directive("quick")
  }
}
