// A block comment that is never closed.
ruleset io.example.err.comment {
  /* the rules below are
     temporarily disabled
  rule hello {
    select when echo hello
    send_directive("hello")
  }
}
