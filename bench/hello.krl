ruleset bench.hello {
  meta {
    name "load benchmark W1: a directive, no state"
  }
  rule hello {
    select when hello hi
    send_directive("hello", {"name": "world"})
  }
}
