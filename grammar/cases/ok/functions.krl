// Function literals: no parameters, body declarations with and without
// `;`, optional `return`, trailing comma in parameters, recursion and
// mutual recursion through later declarations.
ruleset io.example.cases.functions {
  meta {
    shares greeting, fact, is_even
  }
  global {
    greeting = function() { "hello" }
    fact = function(n) { n <= 1 => 1 | n * fact(n - 1) }
    is_even = function(n) { n == 0 => true | is_odd(n - 1) }
    is_odd = function(n) { n == 0 => false | is_even(n - 1) }
    describe = function(name, greeting_word,) {
      msg = greeting_word + ", " + name;
      punct = "!"
      return msg + punct
    }
    index_after_semicolon = function(one) {
      a = one;
      [a]
    }
    empty_return = function() {
      return {}
    }
  }
  rule use_functions {
    select when device compute
    send_directive("functions", {
      "all": [greeting(), fact(5), is_even(4), describe("Ann", "Hi"), index_after_semicolon(1), empty_return()]
    })
  }
}
