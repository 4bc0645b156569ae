// A rule needs a name.
ruleset io.example.err.rule_name {
  rule {
    select when echo hello
    send_directive("hello")
  }
}
