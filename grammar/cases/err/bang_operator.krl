// There is no `!` operator: write `not`.
ruleset io.example.err.bang {
  global {
    muted = false
    loud = !muted
  }
}
