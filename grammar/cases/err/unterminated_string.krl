// A string that is never closed.
ruleset io.example.err.string {
  global {
    greeting = "Hello caller
  }
  rule hello {
    select when echo hello
    send_directive(greeting)
  }
}
