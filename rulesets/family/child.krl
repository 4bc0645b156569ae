ruleset io.krl.family.child {
  meta {
    name "family child"
    description <<
      Installed on children by io.krl.family.parent; answers through its
      family channel and subscribes to a sibling with a handshake of two
      events over channels it makes (docs/pico-engine.md).
    >>
    shares greeting, whoami, ask_parent, well_known, peer, inbox
  }

  global {
    greeting = function() {
      ctx:rid_config{"greeting"}.defaultsTo("hi") + " " + ent:name.defaultsTo("nobody")
    }
    whoami = function() { {"pico": ctx:picoId, "url": ctx:rid_url, "parent": ctx:parent} }
    ask_parent = function() { ctx:query(ctx:parent, "io.krl.family.parent", "children") }
    well_known = function() {
      ctx:channels.filter(function(c) { c{"tags"} >< "well-known" }).head(){"id"}
    }
    peer = function() { ent:peer }
    inbox = function() { ent:inbox.defaultsTo([]) }
  }

  rule named {
    select when family named
    fired {
      ent:name := event:attr("name")
    }
  }

  // a channel that admits only the handshake, made once
  rule well_known_channel {
    select when family named
    ctx:upsertChannel(
      tags = ["well known"],
      eventPolicy = {"allow": [{"domain": "sub", "name": "*"}], "deny": []},
      queryPolicy = {"allow": [], "deny": []}
    )
  }

  rule tell_parent {
    select when family tell_parent
    event:send({
      "eci": ctx:parent,
      "domain": "family",
      "name": "child_says",
      "attrs": {"text": event:attr("text")}
    })
  }

  // the subscriber: a channel of its own for the peer, sent to the peer
  rule introduce {
    select when family introduce
      to re#(.+)# setting(to)
    every {
      ctx:newChannel(
        tags = ["subscription"],
        eventPolicy = {"allow": [{"domain": "sub", "name": "*"}], "deny": []},
        queryPolicy = {"allow": [], "deny": []}
      ) setting(mine)
      event:send({
        "eci": to,
        "domain": "sub",
        "name": "request",
        "attrs": {"reply_to": mine{"id"}}
      })
    }
  }

  // the other side: a channel for the subscriber, sent back
  rule request {
    select when sub request
      reply_to re#(.+)# setting(reply_to)
    every {
      ctx:newChannel(
        tags = ["subscription"],
        eventPolicy = {"allow": [{"domain": "sub", "name": "*"}], "deny": []},
        queryPolicy = {"allow": [], "deny": []}
      ) setting(mine)
      event:send({
        "eci": reply_to,
        "domain": "sub",
        "name": "accepted",
        "attrs": {"reply_to": mine{"id"}}
      })
    }
    fired {
      ent:peer := reply_to
    }
  }

  rule accepted {
    select when sub accepted
      reply_to re#(.+)# setting(reply_to)
    fired {
      ent:peer := reply_to
    }
  }

  rule send_to_peer {
    select when family send_to_peer
    event:send({
      "eci": ent:peer,
      "domain": "sub",
      "name": "message",
      "attrs": {"text": event:attr("text")}
    })
  }

  rule message {
    select when sub message
    fired {
      ent:inbox := ent:inbox.defaultsTo([]).append(event:attr("text"))
    }
  }
}
