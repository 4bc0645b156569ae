// A whole device monitor: readings with where clauses, a strict `then`
// sequence, `not between`, foreach over alerts and app-wide counters.
ruleset io.example.cases.device_monitor {
  meta {
    name "Freezer monitor"
    configure using limit = -10 phone = "+15550100"
    provides latest
    shares latest
  }
  global {
    latest = function() { ent:readings.defaultsTo([]).head() }
    too_warm = function(t) { t.as("Number") > limit }
  }
  rule record {
    select when freezer reading temp re#^(-?\d+(\.\d+)?)$# setting(t)
    always {
      ent:readings := [t].append(ent:readings.defaultsTo([])).slice(0, 9);
      app:reading_count := app:reading_count.defaultsTo(0) + 1
    }
  }
  rule warm_spell {
    select when repeat 3 (freezer reading temp re#^(-?\d+)# where too_warm(event:attrs{"temp"})) avg(avg_t)
    twilio:send_sms(phone, "Freezer warm for 3 readings, average " + avg_t)
  }
  rule door_left_open {
    select when freezer door_opened then freezer door_opened
    send_directive("check door")
  }
  rule no_close {
    select when freezer door_closed not between(freezer door_opened, freezer alarm)
    foreach event:attrs{"alerts"}.defaultsTo([]) setting(alert, i)
    send_directive("alarm", {"alert": alert, "index": i})
    fired {
      ent:alarms := ent:alarms.defaultsTo(0) + 1 on final
    }
  }
}
