// `every { ... }`: actions in order, with and without `;`, with setting,
// with (ignored) labels, and an empty block.
ruleset io.example.cases.every {
  rule greet_and_gather {
    select when twilio inbound_call
    every {
      twilio:say("Hello " + event:attrs{"From"}, voice = "woman");
      twilio:gather_start("digit_entered", numDigits = 1);
      twilio:say("Pick a number from 1 to 9.");
      twilio:gather_stop()
      twilio:say("No number received. Goodbye.")
      twilio:hangup();
    }
  }
  rule labelled {
    select when device ping
    every {
      first => send_directive("say", {"something": "Hello"}) setting(d);
      second => noop();
    }
    fired {
      ent:last_directive := d{"name"}
    }
  }
  rule nothing {
    select when device idle
    every { }
  }
}
