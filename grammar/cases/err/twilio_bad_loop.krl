// `loop` is a whole number of repetitions.
ruleset io.example.err.twilio_loop {
  rule answer {
    select when twilio inbound_call
    twilio:play("https://example.com/hold.mp3") with loop = "x"
  }
}
