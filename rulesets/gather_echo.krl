// Asks the caller for a number on the keypad and reads it back. A caller
// who types nothing is asked again, at most max_tries times in all (counted
// in a call session variable), then hears goodbye.
//
// Install with an optional config such as
//   {"prompt": "Type your PIN, then the pound key.", "max_tries": 2}
// and point a Twilio number's voice webhook at
//   PUBLIC/sky/event/ECI/none/twilio/inbound_call
// The Gather's answer comes back as the event twilio:echo_digits.
ruleset io.krl.gather_echo {
  meta {
    name "Gather and echo"
    configure using
      prompt = "Please enter a number, then press the pound key."
      max_tries = 3
    shares last_digits
  }

  global {
    // the install config wins over the configure using defaults
    config = meta:rulesetConfig.defaultsTo({})
    asking = config{"prompt"}.defaultsTo(prompt)
    tries_allowed = config{"max_tries"}.defaultsTo(max_tries).as("Number")
    last_digits = function() { ent:last_digits }
  }

  rule give_up {
    select when twilio inbound_call
    if session:tries.defaultsTo(0) >= tries_allowed then every {
      twilio:say("Sorry, I did not get a number. Goodbye.");
      twilio:hangup();
    }
    fired {
      last
    }
  }

  rule ask {
    select when twilio inbound_call
    every {
      twilio:gather_start("echo_digits", finishOnKey = "#", timeout = 5);
      twilio:say(asking);
      twilio:gather_stop();
      // reached only when the caller typed nothing
      twilio:redirect("inbound_call");
    }
    always {
      session:tries := session:tries.defaultsTo(0) + 1
    }
  }

  rule echo {
    select when twilio echo_digits Digits re#^(\d+)$# setting(digits)
    pre {
      spaced = digits.split("").join(" ")
    }
    every {
      twilio:say("You entered " + spaced + ".");
      twilio:hangup();
    }
    fired {
      ent:last_digits := digits
    }
  }

  rule nothing_entered {
    select when twilio echo_digits
    if event:attrs{"Digits"}.isnull() || event:attrs{"Digits"} == "" then
      twilio:redirect("inbound_call")
  }
}
