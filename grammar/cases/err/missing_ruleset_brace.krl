// The ruleset's closing brace is missing.
ruleset io.example.err.ruleset_brace {
  rule hello {
    select when echo hello
    send_directive("hello")
  }
