// Method syntax: library functions, user functions as methods, chains,
// named arguments in methods, calls on calls, and methods on literals.
ruleset io.example.cases.methods {
  global {
    add = function(a, b) { a + b }
    make_adder = function(n) { function(x) { x + n } }
    five_plus = 5.add(3)
    doubled = [1, 2, 3].map(function(n) { n * 2 }).filter(function(n) { n > 2 })
    upper = "hello".uc()
    direct = length([1, 2, 3])
    curried = make_adder(1)(2)
    method_then_call = 1.isnull()
    joined = ["a", "b"].join(", ").split(re#,\s*#)
    defaulted = null.defaultsTo("none", "used default")
  }
  rule methods {
    select when device compute
    send_directive("methods", {
      "all": [five_plus, doubled, upper, direct, curried, method_then_call, joined, defaulted]
    })
  }
}
