ruleset bench.counter {
  meta {
    name "load benchmark counter"
    shares n
  }
  global {
    n = function() {
      ent:n.defaultsTo(0)
    }
  }
  rule inc {
    select when counter inc
    send_directive("n", {"n": ent:n.defaultsTo(0) + 1})
    always {
      ent:n := ent:n.defaultsTo(0) + 1
    }
  }
}
