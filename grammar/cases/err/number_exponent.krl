// There are no exponents: `1e3` is the number 1 followed by the name e3.
ruleset io.example.err.exponent {
  global {
    timeout_ms = 1e3
  }
}
