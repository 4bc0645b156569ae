// An action returns one value: `setting(...)` takes one name.
ruleset io.example.err.action_setting {
  rule call_out {
    select when ops page
    twilio:place_call("+15550100", "https://example.com/twiml") setting(sid, status)
  }
}
