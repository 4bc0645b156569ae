// The global block holds declarations only, not a bare expression.
ruleset io.example.err.global_expr {
  global {
    greeting = "hello"
    greeting.uc()
  }
}
