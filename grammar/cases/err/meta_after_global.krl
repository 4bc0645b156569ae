// `meta` must come before `global`.
ruleset io.example.err.meta_order {
  global {
    x = 1
  }
  meta {
    name "Late meta"
  }
}
