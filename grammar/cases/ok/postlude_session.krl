// Call session variables (one call, keyed by the event's CallSid): read
// `session:name` and `session:name{path}`, write with `:=` (whole or at a
// path), `clear`, and the classic `set`.
ruleset io.example.cases.session {
  meta { shares step }
  global {
    step = function() { session:step.defaultsTo(0) }
  }
  rule menu {
    select when twilio menu
    pre {
      choice = session:answers{"menu"}
    }
    twilio:say("You chose " + choice)
    always {
      session:step := step() + 1;
      session:answers{["menu"]} := event:attrs{"Digits"};
      session:answers{["tries"]} := session:answers{"tries"}.defaultsTo(0) + 1 if choice.isnull();
      clear session:answers{"old"};
      clear session:hold;
      set session:seen true
    }
  }
}
