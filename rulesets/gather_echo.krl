// Asks the caller for a number on the keypad and reads it back.
//
// Voice webhook: PUBLIC/sky/event/ECI/none/twilio/inbound_call
// The Gather's answer comes back as the event twilio:echo_digits.
ruleset io.krl.gather_echo {
  meta {
    name "Gather and echo"
    configure using
      prompt = "Please enter a number, then press the pound key."
      max_tries = 3
  }
  rule ask {
    select when twilio inbound_call
    every {
      twilio:gather_start("echo_digits", finishOnKey = "#", timeout = 5);
      twilio:say(prompt);
      twilio:gather_stop();
      // reached only when the caller typed nothing
      twilio:redirect("inbound_call");
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
      twilio:say("Sorry, I did not get that. Goodbye.")
  }
}
