// An action the twilio module does not have (`gather_start` written in
// camel case), through the classic alias: refused at registration with a
// hint, not at run time.
ruleset io.example.err.twilio_unknown_action {
  meta {
    use module a8x115 alias twilio
  }
  rule answer {
    select when twilio inbound_call
    every {
      twilio:gatherStart("menu_choice") with numDigits = 1
      twilio:say("Press 1 for sales.")
      twilio:gather_stop()
    }
  }
}
