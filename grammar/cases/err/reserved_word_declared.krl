// `null` is a reserved word and cannot be declared.
ruleset io.example.err.reserved {
  global {
    null = 0
  }
}
