ruleset bench.twiml {
  meta {
    name "load benchmark: a TwiML webhook"
    shares n
  }
  global {
    n = function() {
      ent:n.defaultsTo(0)
    }
  }
  // An IVR's first step: a greeting inside a Gather whose callback is the
  // channel's `twilio menu` URL; counts the calls (one key written, as the
  // event-path counter does).
  rule answer {
    select when twilio inbound_call
    every {
      twilio:gather_start("menu") with numDigits = 1 and timeout = 5
      twilio:say("Hello " + event:attrs{"From"} + ". Press 1 for sales, 2 for support.")
        with voice = "woman"
      twilio:gather_stop()
    }
    always {
      ent:n := ent:n.defaultsTo(0) + 1
    }
  }
}
