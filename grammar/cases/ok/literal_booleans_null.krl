// true, false and null as values, map values and arguments.
ruleset io.example.cases.booleans {
  global {
    enabled = true
    muted = false
    nothing = null
    flags = {"enabled": enabled, "muted": muted, "nothing": nothing}
  }
  rule show_flags {
    select when device status
    send_directive("flags", flags.put("missing", null))
  }
}
