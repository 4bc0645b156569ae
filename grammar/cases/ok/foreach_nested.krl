// `foreach ... setting(v)` and `setting(v, k)`, nested (the first is the
// outermost), with `on final` in the postlude.
ruleset io.example.cases.foreach {
  rule lines {
    select when cart checkout
    foreach event:attrs{"items"}.split(",") setting(item)
      foreach 1.range(2) setting(n)
    pre {
      label = item + "#" + n
    }
    send_directive("line", {"label": label})
    fired {
      raise cart event "done" attributes {"last": label} on final
    }
  }
  rule numbers {
    select when sms broadcast
    foreach {"+15550100": "Ada", "+15550199": "Grace"} setting(name, number)
    twilio:send_sms(number, "Hi " + name)
  }
  rule three_names {
    select when device list
    foreach [[1, 2], [3]] setting(row, i, extra)
      foreach row setting(cell)
    send_directive("cell", {"row": i, "cell": cell, "extra": extra})
  }
}
