// Classic global items: `dataset`/`datasource` declarations (bound to
// null) and `emit`/`css` blocks (ignored).
ruleset a18x6 {
  global {
    dataset cities <- "https://example.com/cities.json" cachable for 2 hours
    datasource weather:forecast <- "https://example.com/forecast"
    emit <| console.log("loaded") |>
    css <<.banner { color: red; }>>
    greeting = "hello"
  }
  rule main {
    select when echo hello
    send_directive("say", {"something": greeting, "cities": cities, "weather": weather})
  }
}
