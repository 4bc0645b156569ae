// Persistent writes: `ent:x :=`, path writes with a key and with a key
// list, `app:x :=`, `clear` with and without a path, and a local
// declaration in the postlude.
ruleset io.example.cases.persistent {
  rule store_caller {
    select when twilio inbound_call
    pre {
      caller = event:attrs{"From"}
    }
    always {
      ent:user := {"last": "McCoy"};
      ent:user{"first"} := "Leonard";
      ent:prefs{["ui", "theme"]} := "dark";
      ent:calls{[caller, "count"]} := ent:calls{[caller, "count"]}.defaultsTo(0) + 1;
      app:visits := app:visits.defaultsTo(0) + 1;
      app:callers{caller} := time:now();
      next_count = ent:calls{[caller, "count"]};
      ent:last_count := next_count;
      clear ent:user{"last"};
      clear ent:cart;
      clear app:callers{caller}
    }
  }
}
