// Every comparison operator sits on one level (power 40) and is
// left-associative: `1 < 2 == true` is `(1 < 2) == true`.
ruleset io.example.cases.comparison {
  global {
    temp = 21
    chained = 1 < 2 == true
    three = 3 < 2 < 1
    checks = [
      temp == 21,
      temp != 20,
      temp < 30,
      temp <= 21,
      temp > 10,
      temp >= 21,
      temp <=> 20,
      "20" cmp "3",
      "hello" like re#^h#,
      ["a", "b"] >< "a",
      temp + 1 > temp * 1
    ]
  }
  rule compare {
    select when thermostat check
    send_directive("comparison", {"chained": chained, "three": three, "checks": checks})
  }
}
