// Literal raw TwiML whose <Say> is never closed: refused at registration,
// not when a caller is waiting for the reply.
ruleset io.example.err.twilio_raw {
  rule answer {
    select when twilio inbound_call
    twilio:raw_response(<< <Say>Thanks for calling.<Hangup/> >>)
  }
}
