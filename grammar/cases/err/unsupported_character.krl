// `@` is not a KRL character outside strings.
ruleset io.example.err.at_sign {
  rule reply {
    select when sms inbound
    send_directive("reply", {"to": @From})
  }
}
