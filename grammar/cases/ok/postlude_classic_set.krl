// Classic postlude statements: `set ent:x v`, `set ent:x{path} v`,
// `set ent:x[i] v`, `set ent:x` (a flag), `+=` / `-=` ... `from`, and
// `log`/`error` without a level (krl-language.md 10.6).
ruleset a16x78 {
  rule classic_statements {
    select when sms inbound
    pre {
      body = event:attrs{"Body"}
    }
    fired {
      set ent:last_body body;
      set app:total_msgs app:total_msgs.defaultsTo(0) + 1;
      set ent:bodies{body} true;
      set ent:recent[0] body;
      set ent:seen_any;
      ent:count += 1 from 0;
      ent:credits -= 2 from 100;
      ent:by_sender{event:attrs{"From"}} += 1 from 1;
      clear ent:recent[1];
      log "classic log line";
      error "classic error"
    }
  }
}
