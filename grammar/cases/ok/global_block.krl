// The global block: declarations with and without `;`, values computed
// from earlier globals, functions referring to later names, and an
// entity-variable read.
ruleset io.example.cases.global {
  meta {
    shares with_tax, fresh
  }
  global {
    rate = 0.07;
    with_tax = function(p) { p * (1 + rate) };
    total = 10
    half = total / 2
    is_even = function(n) { n == 0 => true | is_odd(n - 1) }
    is_odd = function(n) { n == 0 => false | is_even(n - 1) }
    fresh = function() { ent:counter }
    stale = ent:counter
  }
  rule report {
    select when device report
    send_directive("global", {"half": half, "stale": stale, "even": is_even(4)})
  }
}
