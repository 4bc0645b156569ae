// `schedule`: at a time with attributes and setting(id), on a cron
// repeat, the dynamic `schedule event "d:t"` form, and classic `with`.
ruleset io.example.cases.schedule {
  rule plan_reminders {
    select when order placed
    pre {
      id = event:attrs{"id"}
    }
    always {
      schedule order event "reminder" at time:add(time:now(), {"days": 1})
        attributes {"id": id} setting(entry);
      schedule device event "poll" repeat "*/5 * * * *";
      schedule device event "report" repeat "0 9 * * 1" attributes {"weekly": true} setting(weekly);
      schedule event "order:expire" at time:add(time:now(), {"hours": 2});
      schedule order event "nudge" at time:add(time:now(), {"minutes": 30}) with id = id and tries = 1;
      ent:reminders := [entry, weekly]
    }
  }
}
