// Actions cannot run in the postlude.
ruleset io.example.err.postlude_action {
  rule hello {
    select when echo hello
    fired {
      send_directive("hello")
    }
  }
}
