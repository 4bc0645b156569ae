// `where` conditions on simple events: alone, after `setting(...)`, and
// the deprecated order `where ... setting(...)`.
ruleset io.example.cases.event_where {
  rule hot {
    select when sensor reading where event:attrs{"temp"} > 30
    send_directive("hot")
  }
  rule big_order {
    select when shop purchase qty re#^(\d+)$# setting(qty) where qty.as("Number") > 10
    send_directive("big", {"qty": qty})
  }
  rule where_before_setting {
    select when shop purchase qty re#^(\d+)$# where event:attrs{"vip"} setting(qty)
    send_directive("vip", {"qty": qty})
  }
  rule where_with_logic {
    select when sms inbound where event:attrs{"Body"} like re#help#i && not ent:muted
    send_directive("help")
  }
}
