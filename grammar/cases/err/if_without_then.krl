// `if` before an action block needs `then`.
ruleset io.example.err.if_then {
  rule guarded {
    select when sms inbound
    if event:attrs{"Body"} every {
      twilio:sms("ok")
    }
  }
}
