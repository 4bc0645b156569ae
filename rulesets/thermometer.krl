// A thermometer's pico (docs/mqtt.md, "A complete example"): it keeps
// the last reading of each room from MQTT messages on home/<room>/temp,
// and can publish one itself (event `thermometer reading`, attributes
// room and celsius) to try it without a device.
ruleset io.krl.thermometer {
  meta {
    shares readings
  }

  global {
    readings = function() { ent:readings.defaultsTo({}) }
  }

  rule reading_arrived {
    select when mqtt message
    pre {
      room = event:attrs{"topic"}.split("/")[1]
      celsius = event:attrs{"payload"}{"celsius"}
    }
    always {
      ent:readings{room} := celsius if room && celsius
    }
  }

  rule publish_reading {
    select when thermometer reading
    mqtt:publish(
      "home/" + event:attrs{"room"} + "/temp",
      {"celsius": event:attrs{"celsius"}},
      qos = 1
    )
  }
}
