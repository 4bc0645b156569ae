// Classic event forms: string attribute patterns, re/.../ patterns, web
// events (pageview, web click) and `select using` that never match, and
// the classic event: functions (krl-language.md 10.7).
ruleset a18x4 {
  rule string_pattern {
    select when twilio callstatus CallStatus "^completed$" setting(status)
    send_directive("status", {"status": status, "from": event:attr("from"), "digits": event:param("Digits")})
  }
  rule slash_pattern {
    select when sms inbound Body re/^yes\/no$/i
    send_directive("yes_no", {"type": event:type(), "name": event:name()})
  }
  rule pageview {
    select when pageview "example\.com/(\w+)" setting(page)
    noop()
  }
  rule click {
    select when web click "#buy"
    noop()
  }
  rule using {
    select using "example\.com" setting(path)
    noop()
  }
}
