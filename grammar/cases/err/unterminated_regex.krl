// A regular expression whose closing `#` is escaped away.
ruleset io.example.err.regex {
  rule tagged {
    select when sms inbound Body re#^\#(\w+)\#
    send_directive("tag")
  }
}
