// Classic defaction whose `configure using` list is followed by ordinary
// body declarations: the `and`-separated list ends at the first
// declaration not preceded by `and`, so `text` is a body declaration and
// not a third parameter.
ruleset io.example.cases.defaction_configure_body {
  global {
    notify = defaction(to) {
      configure using loud = false and prefix = ">"
      text = prefix + (loud => "!" | ".")
      send_directive("notify") with to = to and text = text
    }
  }
  rule notify_quietly {
    select when ops alert
    notify("ops") with prefix = "-"
  }
}
