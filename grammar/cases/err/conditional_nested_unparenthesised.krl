// A conditional in the consequent position must be parenthesised.
ruleset io.example.err.nested_cond {
  global {
    pick = function(a, b) { a => b => 1 | 2 | 3 }
  }
}
