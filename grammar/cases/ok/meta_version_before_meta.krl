// Deprecated: `version "..."` directly after the ruleset's opening brace.
ruleset io.example.cases.early_version {
  version "0.9"
  meta {
    name "Early version"
  }
  rule noop_rule {
    select when device ping
    noop()
  }
}
