// `select when` without an event expression.
ruleset io.example.err.select {
  rule hello {
    select when
    send_directive("hello")
  }
}
