// `raise DOMAIN TYPE` without the `event` keyword.
ruleset io.example.err.raise {
  rule ship {
    select when order ship
    always {
      raise order "shipped" attributes {"id": 1}
    }
  }
}
