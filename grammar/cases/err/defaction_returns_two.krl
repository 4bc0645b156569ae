// A defaction returns one value.
ruleset io.example.err.returns {
  global {
    send = defaction(to) {
      twilio:send_sms(to, "hi") setting(sid)
      return sid, to
    }
  }
}
