// Postlude forms: fired, fired/else, fired/else/finally, fired/finally,
// notfired, notfired/else/finally, always, and empty blocks.
ruleset io.example.cases.postludes {
  rule p_fired {
    select when p a
    fired { ent:a := 1 }
  }
  rule p_fired_else {
    select when p b
    if event:attrs{"ok"} then noop()
    fired { ent:b := "yes" } else { ent:b := "no" }
  }
  rule p_fired_else_finally {
    select when p c
    if event:attrs{"ok"} then noop()
    fired {
      ent:count := ent:count.defaultsTo(0) + 1;
    } else {
      log warn "rule did not fire"
    } finally {
      ent:last_seen := time:now()
    }
  }
  rule p_fired_finally {
    select when p d
    fired { ent:d := true } finally { ent:seen := true }
  }
  rule p_notfired {
    select when p e
    if false then noop()
    notfired { ent:e := "missed" }
  }
  rule p_notfired_all {
    select when p f
    if event:attrs{"ok"} then noop()
    notfired { ent:f := 0 } else { ent:f := 1 } finally { ent:g := 2 }
  }
  rule p_always {
    select when p g
    always { ent:visits := ent:visits.defaultsTo(0) + 1 }
  }
  rule p_empty {
    select when p h
    always { }
  }
}
