// Newlines never end a declaration: a following `[`, `(` or `{` continues
// the expression (krl-language.md 1.12). `;` or `return` separates.
ruleset io.example.cases.separation {
  global {
    one = [10, 20]
    two = function(n) { n * 2 }
    indexed = one
    [1]
    called = two
    (4)
    separated = function() {
      a = one;
      [a]
    }
    returned = function() {
      a = one
      return [a]
    }
  }
  rule show_separation {
    select when device compute
    send_directive("separation", {"indexed": indexed, "called": called, "s": separated(), "r": returned()})
  }
}
