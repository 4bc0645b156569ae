// Seed 004: an SMS to a small device and back, over MQTT.
//
// An SMS reaches Twilio's webhook (this pico's channel, event
// twilio:sms). A body of 1 to 160 characters is published on the MQTT
// topic `twilio` as an Incoming message, and Twilio gets an empty
// <Response/> (no reply yet: the device answers). A longer body is not
// published; the sender gets a polite <Message> instead. The device
// (firmware/, krl-device) reverses the body and publishes an Outgoing
// message on the same topic; this ruleset sends every Outgoing message
// as an SMS through the engine's durable outbox. The message formats are
// docs/firmware.md's MQTT contract.
//
// The pico subscribes to the topic when the ruleset is installed (the
// engine raises wrangler:ruleset_installed), so nothing else is needed:
//
//   krl ruleset register rulesets/sms_device_bridge.krl
//   krl pico new --name bridge
//   krl install io.krl.sms_device_bridge --pico PICO_ID
//
// then point the Twilio number's messaging webhook at
// PUBLIC_URL/sky/event/ECI/none/twilio/sms and run a device:
//
//   cargo run -p krl-device -- --mqtt-url mqtt://127.0.0.1:1883
//
// Install config, all optional:
//   {"topic": "twilio",                      the MQTT topic of the bridge
//    "account_sid": "AC...", "auth_token": "..."}   Twilio credentials
//                                            (else the engine's flags)
ruleset io.krl.sms_device_bridge {
  meta {
    name "SMS to device bridge"
    shares forwarded, refused, sent, last
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})
    topic = config{"topic"}.defaultsTo("twilio")
    valid = topic.typeof() == "String" && topic.length() > 0
      && not (topic.contains("+") || topic.contains("#"))
      || install:refuse("topic: must be an MQTT topic name without wildcards, such as twilio")

    // At most what one SMS segment holds, and what the device accepts.
    max_chars = 160
    too_long = "Sorry, that message is too long for the device: please send at most 160 characters."

    // Counters and the last message sent on, for people and tests.
    forwarded = function() { ent:forwarded.defaultsTo(0) }
    refused = function() { ent:refused.defaultsTo(0) }
    sent = function() { ent:sent.defaultsTo(0) }
    last = function() { ent:last.defaultsTo({}) }
  }

  // Subscribe to the bridge's topic once installed (again on a reinstall:
  // the subscription is stored, so this is harmless).
  rule subscribe {
    select when wrangler ruleset_installed where event:attrs{"rids"} >< meta:rid
    mqtt:subscribe(topic, qos = 1)
  }

  // An SMS for the device: forwarded as Incoming, QoS 1.
  rule forward {
    select when twilio sms
      where event:attrs{"Body"}.defaultsTo("").length() > 0
      && event:attrs{"Body"}.length() <= max_chars
    mqtt:publish(topic, {
      "Type": "Incoming",
      "To": event:attrs{"To"},
      "From": event:attrs{"From"},
      "Body": event:attrs{"Body"},
      "MessageSid": event:attrs{"MessageSid"}
    }, qos = 1)
    fired {
      ent:forwarded := forwarded() + 1
    }
  }

  // Too long for the device: nothing is published, the sender is told.
  rule too_long {
    select when twilio sms where event:attrs{"Body"}.defaultsTo("").length() > max_chars
    twilio:message(too_long)
    fired {
      ent:refused := refused() + 1
    }
  }

  // The device's answer: sent as an SMS (an MMS with MediaUrl).
  rule outgoing {
    select when mqtt message where payload{"Type"} == "Outgoing"
    pre {
      m = event:attrs{"payload"}
    }
    twilio:send_sms(m{"To"}, m{"From"}, m{"Body"}, m{"MediaUrl"}) setting(queued)
    fired {
      ent:sent := sent() + 1;
      ent:last := {"to": m{"To"}, "from": m{"From"}, "body": m{"Body"}, "outbox": queued}
    }
  }
}
