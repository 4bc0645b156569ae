// `clear` works on entity and application variables only.
ruleset io.example.err.clear {
  rule reset {
    select when device reset
    always {
      clear event:attrs
    }
  }
}
