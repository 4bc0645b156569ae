// Contextual keywords are ordinary names outside their positions
// (krl-language.md 1.4, group 3), and operator words work as method names
// and event types. `$` is allowed in identifiers.
ruleset io.example.cases.contextual {
  global {
    event = "not a keyword here"
    pre = 1
    select = 2
    $total = pre + select
    within_limit = function(schedule) { schedule > 3 }
  }
  rule count_readings {
    select when device count
    pre {
      readings = [1, 2, 3]
      has_big = readings.any(function(r) { r > 2 })
    }
    send_directive("contextual", {
      "event": event,
      "total": $total,
      "ok": within_limit($total),
      "big": has_big
    })
  }
}
