// A function body must end with a result expression.
ruleset io.example.err.function_result {
  global {
    shout = function(text) {
      loud = text.uc()
    }
  }
}
