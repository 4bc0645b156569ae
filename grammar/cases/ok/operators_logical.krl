// && binds tighter than ||: `a || b && c` is `a || (b && c)`. Comparison
// binds tighter than both.
ruleset io.example.cases.logical {
  global {
    armed = true
    door_open = false
    motion = true
    alarm = armed && door_open || motion
    alarm2 = armed || door_open && motion
    guarded = armed && motion && not door_open
    fallback = null || "default"
    with_compare = armed == true || door_open == true && motion
  }
  rule evaluate_alarm {
    select when security sensor
    send_directive("alarm", {
      "alarm": alarm,
      "alarm2": alarm2,
      "guarded": guarded,
      "fallback": fallback,
      "cmp": with_compare
    })
  }
}
