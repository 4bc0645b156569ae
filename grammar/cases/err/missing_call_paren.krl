// A call's argument list is not closed.
ruleset io.example.err.call_paren {
  rule hello {
    select when echo hello
    send_directive("say", {"something": "Hello"}
  }
}
