// A modern defaction: parameters with defaults, body declarations, a
// single action with setting, and a `return` value bound by the caller.
ruleset io.example.cases.defaction_return {
  meta {
    provides notify
  }
  global {
    notify = defaction(to, text = "ping", loud = false) {
      body = loud => text.uc() | text
      send_directive("notify", {"to": to, "text": body}) setting(d)
      return d{"options"}{"text"}
    }
    relay = defaction(to) {
      every {
        notify(to, loud = true) setting(first);
        notify(to, "again");
      }
      return first
    }
  }
  rule notify_ops {
    select when ops alert
    notify("ops", loud = true) setting(sent)
    fired {
      ent:last_sent := sent
    }
  }
  rule relay_ops {
    select when ops relay
    relay("ops")
  }
}
