// Attribute matchers: one or several `attr re#...#`, with flags and an
// escaped `\#`, binding captures with `setting(...)`; classic string
// patterns.
ruleset io.example.cases.event_attrs {
  rule one_matcher {
    select when sms inbound Body re#^STOP$#i
    send_directive("unsubscribe")
  }
  rule two_matchers {
    select when shop purchase item re#^(\w+)$# qty re#^(\d+)$# setting(item, qty)
    send_directive("purchase", {"item": item, "qty": qty})
  }
  rule hash_in_pattern {
    select when sms inbound Body re#^\#(\w+)# setting(tag)
    send_directive("tag", {"tag": tag})
  }
  rule classic_string_pattern {
    select when twilio digits Digits "^[0-9]+$" setting(digits)
    send_directive("digits", {"digits": digits})
  }
  rule empty_setting {
    select when twilio hangup CallSid re#.+# setting()
    send_directive("hung up")
  }
}
