ruleset io.krl.family.parent {
  meta {
    name "family parent"
    description <<
      Makes and deletes child picos through ctx:, calls them through
      their family channels and introduces them to each other
      (docs/pico-engine.md). Used by the engine's tests.
    >>
    shares children, heard, channels, ask, logs
  }

  global {
    child_rid = "io.krl.family.child"
    children = function() { ctx:children }
    heard = function() { ent:heard.defaultsTo([]) }
    channels = function() { ctx:channels }
    logs = function() { ctx:logs() }
    // a child's shared function, through its family channel
    ask = function(eci, name) { ctx:query(eci, child_rid, name) }
  }

  // a child with the ruleset at `url`, greeted within the same event
  rule new_child {
    select when family new_child
      url re#(.+)# setting(url)
    every {
      ctx:newPico(rulesets = [{"url": url, "config": {"greeting": "hello"}}]) setting(eci)
      ctx:eventQuery(
        eci = eci,
        domain = "family",
        name = "named",
        attrs = {"name": event:attr("name")},
        rid = child_rid,
        queryName = "greeting"
      ) setting(greeting)
      send_directive("child", {"eci": eci, "greeting": greeting})
    }
  }

  // makes a child, then fails: the child must not stay
  rule new_child_then_fail {
    select when family new_child_then_fail
      url re#(.+)# setting(url)
    every {
      ctx:newPico(rulesets = [{"url": url}]) setting(eci)
      ctx:eventQuery(
        eci = "no-such-eci",
        domain = "family",
        name = "x",
        rid = child_rid,
        queryName = "greeting"
      )
    }
  }

  rule del_child {
    select when family del_child
      eci re#(.+)# setting(eci)
    ctx:delPico(eci)
  }

  // deletes a child, then fails: the child must still be there
  rule del_child_then_fail {
    select when family del_child_then_fail
      eci re#(.+)# setting(eci)
    every {
      ctx:delPico(eci)
      ctx:eventQuery(
        eci = "no-such-eci",
        domain = "family",
        name = "x",
        rid = child_rid,
        queryName = "greeting"
      )
    }
  }

  // asks a child something the child asks back: a loop
  rule ask_back {
    select when family ask_back
      eci re#(.+)# setting(eci)
    send_directive("answer", {"value": ctx:query(eci, child_rid, "ask_parent")})
  }

  // introduces child a to child b (a subscription-style handshake)
  rule introduce {
    select when family introduce
      a re#(.+)# b re#(.+)# setting(a, b)
    ctx:event(
      eci = a,
      domain = "family",
      name = "introduce",
      attrs = {"to": ctx:query(b, child_rid, "well_known")}
    )
  }

  // installs the ruleset at `url` (registered again first) on this pico;
  // the event raised after it reaches the new ruleset
  rule install {
    select when family install
      url re#(.+)# setting(url)
    every {
      ctx:flush(url)
      ctx:install(url, {"greeting": "hey"}) setting(rid)
    }
    fired {
      raise family event "installed" attributes {"rid": rid}
    }
  }

  rule uninstall {
    select when family uninstall
      rid re#(.+)# setting(rid)
    ctx:uninstall(rid)
  }

  // a channel with Pico Engine tags and policies
  rule new_channel {
    select when family new_channel
    ctx:newChannel(
      tags = event:attr("tags"),
      eventPolicy = event:attr("eventPolicy"),
      queryPolicy = event:attr("queryPolicy")
    ) setting(channel)
    fired {
      ent:channel := channel
    }
  }

  rule del_channel {
    select when family del_channel
      eci re#(.+)# setting(eci)
    ctx:delChannel(eci)
  }

  // an event to a child, through its family channel
  rule forward {
    select when family forward
      eci re#(.+)# setting(eci)
    ctx:event(
      eci = eci,
      domain = event:attr("domain"),
      name = event:attr("type"),
      attrs = event:attr("attrs").defaultsTo({})
    )
  }

  rule child_says {
    select when family child_says
    fired {
      ent:heard := ent:heard.defaultsTo([]).append(event:attr("text"))
    }
  }
}
