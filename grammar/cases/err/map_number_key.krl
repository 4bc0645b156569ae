// Map keys must be string literals, not numbers.
ruleset io.example.err.map_number_key {
  global {
    digits = {1: "sales", 2: "support"}
  }
}
