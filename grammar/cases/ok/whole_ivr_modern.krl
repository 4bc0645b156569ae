// A whole modern IVR: greet the caller by name, gather one digit, route it
// with choose, and keep per-caller statistics.
ruleset io.example.cases.ivr {
  meta {
    name "Support line"
    shares picks, stats
  }
  global {
    directory = {"+15550100": "Ada", "+15550199": "Grace"}
    picks = function() { ent:picks.defaultsTo({}) }
    stats = function(number) { ent:calls{number}.defaultsTo(0) }
    menu_text = "Press 1 for sales, 2 for support, or hang up."
  }
  rule answer {
    select when twilio inbound_call From re#^\+(\d+)$# setting(digits)
    pre {
      caller = event:attrs{"From"}
      name = directory{caller}.defaultsTo("caller")
    }
    every {
      twilio:say("Hello " + name, voice = "woman");
      twilio:gather_start("digit_entered", numDigits = 1);
      twilio:say(menu_text);
      twilio:gather_stop();
      twilio:say("No choice received. Goodbye.");
      twilio:hangup();
    }
    always {
      ent:caller := caller;
      ent:calls{caller} := stats(caller) + 1
    }
  }
  rule digit_entered {
    select when twilio digit_entered Digits re#^([12])$# setting(digit)
    pre {
      dept = digit == "1" => "sales" | "support"
    }
    choose dept {
      sales => twilio:dial("+15550111");
      support => twilio:dial("+15550122");
    }
    fired {
      ent:picks{ent:caller} := digit if ent:caller;
      raise ivr event "routed" attributes {"dept": dept, "caller": ent:caller}
    }
  }
  rule bad_digit {
    select when twilio digit_entered Digits re#^[^12]#
    twilio:redirect("inbound_call")
  }
}
