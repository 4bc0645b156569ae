// Statement guards: `if EXPR` and `on final`, on assignments, raises,
// declarations, `last` and `clear`.
ruleset io.example.cases.guards {
  rule guarded {
    select when cart checkout
    foreach event:attrs{"items"}.defaultsTo([]) setting(item)
    fired {
      ent:count := ent:count.defaultsTo(0) + 1;
      raise notice event "milestone" attributes {"n": ent:count} if ent:count % 100 == 0;
      bonus = 10 if ent:vip;
      ent:bonus := bonus if bonus;
      raise cart event "done" on final;
      clear ent:cart on final;
      last if ent:vip && item == "gift"
    }
  }
}
