// Group forms: and(...), or(...), before(...), then(...), after(...)
// with two or more arguments and an optional trailing comma.
ruleset io.example.cases.event_groups {
  rule all_three {
    select when and(sensor a, sensor b, sensor c)
    send_directive("and")
  }
  rule one_of {
    select when or(sensor a, sensor b)
    send_directive("or")
  }
  rule in_order {
    select when before(call ring, call answer, call hangup,)
    send_directive("before")
  }
  rule strictly {
    select when then(pair open, pair close)
    send_directive("then")
  }
  rule reversed {
    select when after(pair close, pair open)
    send_directive("after")
  }
  rule mixed {
    select when and(sensor a, or(sensor b, sensor c)) before sensor d
    send_directive("mixed")
  }
}
