// A map literal is not closed before the call's `)`.
ruleset io.example.err.map_brace {
  rule hello {
    select when echo hello
    send_directive("say", {"something": "Hello")
  }
}
