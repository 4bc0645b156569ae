// Classic action forms: a bare `{ }` block (every), `if ... then { }`,
// actions without parentheses, and several actions directly in the rule.
ruleset a8x115 {
  rule bare_block {
    select when twilio incoming
    {
      twilio:say("Thanks for calling");
      twilio:gather_start("size_chosen");
        twilio:say("Press 1 for small, 2 for large");
      twilio:gather_stop;
    }
  }
  rule if_then_braces {
    select when twilio size_chosen
    if event:attrs{"Digits"} == "1" then {
      twilio:say("Small it is");
      twilio:hangup
    }
  }
  rule action_list {
    select when twilio goodbye
    twilio:say("Goodbye");
    twilio:hangup;
  }
  rule single_bare_name {
    select when device ping
    noop;
  }
}
