// Classic defaction: `configure using ... and ...` as the first thing in
// the body declares extra parameters with defaults; callers pass them with
// `with` modifiers (krl-language.md 10.5).
ruleset io.example.cases.defaction_configure {
  global {
    notify = defaction(to) {
      configure using loud = false and prefix = ">"
      send_directive("notify") with to = to and text = prefix + (loud => "!" | ".")
    }
  }
  rule notify_loudly {
    select when ops alert
    notify("ops") with loud = true and prefix = "!!"
  }
}
