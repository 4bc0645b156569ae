// Map keys must be string literals, not bare words.
ruleset io.example.err.map_key {
  global {
    caller = {number: "+15550100"}
  }
}
