// A voice must be a voice name, not a number.
ruleset io.example.err.twilio_voice {
  rule answer {
    select when twilio inbound_call
    twilio:say("Hello", voice = 3)
  }
}
