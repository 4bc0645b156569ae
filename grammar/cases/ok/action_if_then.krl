// `if COND then` before a single action, an `every`, a `sample` and a
// `choose` block.
ruleset io.example.cases.if_then {
  rule guarded_single {
    select when sms inbound
    pre {
      body = event:attrs{"Body"}
    }
    if body like re#^help#i then twilio:sms("Reply STOP to unsubscribe")
  }
  rule guarded_every {
    select when twilio inbound_call
    if ent:open.defaultsTo(true) then every {
      twilio:say("We are open");
      twilio:hangup()
    }
  }
  rule guarded_sample {
    select when device ping
    if not ent:muted then sample {
      send_directive("a");
      send_directive("b")
    }
  }
  rule guarded_choose {
    select when call route
    pre {
      dept = event:attrs{"dept"}
    }
    if dept then choose dept {
      sales => send_directive("to_sales");
      help => send_directive("to_help", {"queue": 2});
    }
  }
}
