// Array items are separated by commas.
ruleset io.example.err.array_comma {
  global {
    numbers = ["+15550100" "+15550199"]
  }
}
