// Twilio requests callbacks with GET or POST only; the classic alias of
// the built-in module is checked too.
ruleset io.example.err.twilio_method {
  meta {
    use module a8x115 alias phone
  }
  rule menu {
    select when twilio inbound_call
    every {
      phone:gather_start("menu_choice") with numDigits = 1 and method = "PUT"
      phone:say("Press 1 for sales.")
      phone:gather_stop()
    }
  }
}
