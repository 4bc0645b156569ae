// `if C then` must be followed by an action or an action block.
ruleset io.example.err.if_then_nothing {
  rule guarded {
    select when sms inbound
    if event:attrs{"Body"} then
    fired {
      ent:seen := true
    }
  }
}
