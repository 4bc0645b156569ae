// The action block must come before the postlude.
ruleset io.example.err.order {
  rule late_action {
    select when echo hello
    fired {
      ent:said := true
    }
    send_directive("hello")
  }
}
