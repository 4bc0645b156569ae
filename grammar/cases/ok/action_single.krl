// A single action: plain, with a module domain, with `setting(x)`, with no
// arguments, with a trailing `;`, and a rule with no action block at all.
ruleset io.example.cases.single_action {
  rule plain {
    select when echo hello
    send_directive("say", {"something": "Hello"})
  }
  rule module_action {
    select when twilio inbound_call
    twilio:say("Hello Monkey", voice = "woman");
  }
  rule with_setting {
    select when weather check
    http:get("https://api.example.com/now", qs = {"city": "Provo"}, parseJSON = true) setting(resp)
    fired {
      ent:temp := resp{["content", "temp"]} if resp{"status_code"} == 200
    }
  }
  rule no_args {
    select when device ping
    noop()
  }
  rule no_actions {
    select when device ping
    fired {
      ent:pings := ent:pings.defaultsTo(0) + 1
    }
  }
}
