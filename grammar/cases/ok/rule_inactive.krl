// `is inactive` rules are parsed and ignored; `is active` is the default.
ruleset io.example.cases.inactive {
  rule log_everything is inactive {
    select where true
    send_directive("debug", {"event": event:name})
  }
  rule explicitly_active is active {
    select when echo hello
    send_directive("hello")
  }
  rule unfinished is inactive {
  }
}
