// Classic call forms of the event module: `event:attrs()` and
// `event:params()` with no argument are the attribute map
// (krl-language.md 10.7); only a call with an argument is an error.
ruleset a18x8 {
  rule dump_attrs {
    select when sms inbound
    send_directive("attrs", {"attrs": event:attrs(), "params": event:params()})
  }
}
