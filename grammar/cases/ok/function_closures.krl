// Closures capture their lexical scope; functions are values stored in
// maps, passed as arguments and returned from functions.
ruleset io.example.cases.closures {
  global {
    inc_by = function(n) { function(x) { x + n } }
    inc5 = inc_by(5)
    compose = function(f, g) { function(x) { f(g(x)) } }
    handlers = {
      "double": function(x) { x * 2 },
      "square": function(x) { x * x }
    }
    apply_all = function(x) {
      handlers.values().map(function(h) { h(x) })
    }
  }
  rule closures {
    select when device compute
    pre {
      offset = event:attrs{"offset"}.defaultsTo(0)
      shift = function(x) { x + offset }
      both = compose(inc5, shift)
    }
    send_directive("closures", {"inc": inc5(3), "both": both(1), "all": apply_all(3), "direct": handlers{"double"}(4)})
  }
}
