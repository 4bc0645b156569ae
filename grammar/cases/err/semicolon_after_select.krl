// No `;` is allowed after `select when ...`.
ruleset io.example.err.select_semicolon {
  rule hello {
    select when echo hello;
    send_directive("hello")
  }
}
