// Domain identifiers read module members: ent:, app:, event:, meta:,
// time:, keys: and a built-in function without parentheses.
ruleset io.example.cases.domains {
  rule read_domains {
    select when device report
    send_directive("domains", {
      "ent": ent:readings,
      "app": app:total_readings,
      "attrs": event:attrs,
      "domain": event:domain,
      "rid": meta:rid,
      "now": time:now,
      "now_called": time:now(),
      "eci": meta:eci
    })
  }
}
