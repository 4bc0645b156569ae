ruleset io.krl.conformance.ctx {
  meta {
    name "ctx members"
    version "1.0.0"
    description <<
      One rule or function per member of ctx:, for the conformance cases
      in tests/conformance/cases/ctx.json.
    >>
    shares info, tagged, kidCount, parentKind, rids, ask, heard, selfCount, selected
  }

  global {
    info = function() {
      {
        "rid": ctx:rid,
        "picoId": ctx:picoId.typeof(),
        "config": ctx:rid_config,
        "version": ctx:rid_version,
        "name": ctx:rid_name,
        "url": ctx:rid_url.typeof()
      }
    }
    tagged = function(tag) {
      ctx:channels
        .filter(function(c) { c{"tags"} >< tag })
        .map(function(c) {
          {
            "tags": c{"tags"},
            "eventPolicy": c{"eventPolicy"},
            "queryPolicy": c{"queryPolicy"},
            "family": c{"familyChannelPicoID"}
          }
        })
    }
    selfCount = function() {
      ctx:channels.filter(function(c) { c{"id"} == ctx:picoId }).length()
    }
    kidCount = function() { ctx:children.length() }
    parentKind = function() { ctx:parent.typeof() }
    rids = function() { ctx:rulesets.map(function(r) { r{"rid"} }).sort() }
    ask = function() { ctx:query(ctx:children.head(), ctx:rid, "info") }
    heard = function() { ent:heard }
    selected = function(rule) {
      ctx:logs()
        .filter(function(e) { e{"msg"} == "rule selected" && e{"rule_name"} == rule })
        .length() > 0
    }
  }

  rule new_channel {
    select when ctx new_channel
    ctx:newChannel(
      ["Bar Two", "X.y"],
      {"allow": [{"domain": "a", "name": "*"}], "deny": [{"domain": "a", "name": "b"}]},
      {"allow": [], "deny": []}
    )
  }

  rule put_channel {
    select when ctx put_channel
    pre {
      eci = ctx:channels.filter(function(c) { c{"tags"} >< "bar-two" }).head(){"id"}
    }
    ctx:putChannel(eci, ["renamed"], null, {"allow": [{"rid": "*", "name": "*"}], "deny": []})
  }

  rule upsert_channel {
    select when ctx upsert_channel
    ctx:upsertChannel(["Up"], null, null)
  }

  rule del_channel {
    select when ctx del_channel
    pre {
      eci = ctx:channels.filter(function(c) { c{"tags"} >< "renamed" }).head(){"id"}
    }
    ctx:delChannel(eci)
  }

  rule new_pico {
    select when ctx new_pico
    every {
      ctx:newPico([{"url": ctx:rid_url, "config": {"child": true}}]) setting(eci)
      ctx:eventQuery(eci, "ctx", "hello", {"from": "parent"}, ctx:rid, "heard") setting(heard)
      send_directive("child", {"heard": heard})
    }
  }

  rule hello {
    select when ctx hello
    fired {
      ent:heard := event:attr("from")
    }
  }

  rule tell_child {
    select when ctx tell_child
    ctx:event(ctx:children.head(), "ctx", "hello", {"from": "an event"})
  }

  rule del_pico {
    select when ctx del_pico
    ctx:delPico(ctx:children.head())
  }

  rule del_not_a_child {
    select when ctx del_not_a_child
    ctx:delPico("not-a-child")
  }

  rule raise_event {
    select when ctx raise_event
    ctx:raiseEvent("ctx", "hello", {"from": "raiseEvent"})
  }

  rule raise_event_for_rid {
    select when ctx raise_event_for_rid
    ctx:raiseEvent("ctx", "hello", {"from": "forRid"}, "no.such.rid")
  }

  rule uninstall_self {
    select when ctx uninstall_self
    ctx:uninstall(ctx:rid)
  }
}
