// A `with` modifier that is no attribute of the verb (a typo of `voice`).
ruleset io.example.err.twilio_unknown {
  rule answer {
    select when twilio inbound_call
    twilio:say("Hello") with vioce = "woman"
  }
}
