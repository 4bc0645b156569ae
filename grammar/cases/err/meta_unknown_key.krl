// `colour` is not a meta property.
ruleset io.example.err.meta_key {
  meta {
    name "Lamp"
    colour "red"
  }
}
