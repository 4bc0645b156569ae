// A whole SMS autoresponder: keywords with attribute matchers, opt-out
// handling, a rate limit with `within`, and a daily summary schedule.
ruleset io.example.cases.sms_bot {
  meta {
    name "SMS keywords"
    shares subscribers
  }
  global {
    subscribers = function() { ent:subscribers.defaultsTo([]) }
    reply = defaction(to, body) {
      twilio:send_sms(to, body) setting(sid)
      return sid
    }
  }
  rule opt_out {
    select when sms inbound Body re#^\s*(stop|unsubscribe)\s*$#i
    reply(event:attrs{"From"}, "You are unsubscribed.") setting(sid)
    fired {
      ent:subscribers := subscribers().filter(function(n) { n != event:attrs{"From"} });
      log info <<opt-out #{event:attrs{"From"}} (#{sid})>>;
      last
    }
  }
  rule opt_in {
    select when sms inbound Body re#^\s*start\s*$#i
    if not (subscribers() >< event:attrs{"From"}) then
      reply(event:attrs{"From"}, "Welcome back!")
    fired {
      ent:subscribers := subscribers().append(event:attrs{"From"})
    }
  }
  rule flood {
    select when count 5 (sms inbound From re#(.+)#) push(senders) within 1 minute
    send_directive("flood", {"senders": senders})
    fired {
      error warn {"flood": senders}
    }
  }
  rule daily_summary_setup {
    select when wrangler ruleset_installed
    always {
      schedule sms event "summary" repeat "0 18 * * *" setting(job);
      ent:summary_job := job
    }
  }
}
