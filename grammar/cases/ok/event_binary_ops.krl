// Binary event operators with their binding powers: before/then/after
// (40) bind tighter than and (30), which binds tighter than or (20); all
// are left-associative.
ruleset io.example.cases.event_ops {
  rule or_and {
    select when door open or door close and door lock
    send_directive("or_and")
  }
  rule before_or {
    select when door knock before door enter or door ring
    send_directive("before_or")
  }
  rule before_chain {
    select when call ring before call answer before call hangup
    send_directive("before_chain")
  }
  rule then_and_after {
    select when pair open then pair close and pair lock after pair unlock
    send_directive("then_after")
  }
  rule with_settings {
    select when shop login user re#(.+)# setting(user)
         before shop buy item re#(.+)# setting(item)
    send_directive("bought", {"user": user, "item": item})
  }
}
