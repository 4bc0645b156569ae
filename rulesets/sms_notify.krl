// Sends a text message whenever a notification:status event arrives
// (seed 003's twilio_sms, in this project's words), for example from a
// monitoring job:
//
//   krl event ECI notification status phone_number=+15550001 message="Disk almost full"
//
// Attributes: phone_number (to), from_number (the Twilio number it is
// sent from; default: the install config's from_number), message
// (default "Status changed").
//
// Install config, all optional:
//   {"from_number": "+15559999", "account_sid": "AC...", "auth_token": "..."}
// Credentials come from there or from the engine (--twilio-account-sid,
// --twilio-auth-token). The SMS goes out through the engine's durable
// outbox; Twilio's answer comes back as twilio:sms_sent or sms_failed.
ruleset io.krl.sms_notify {
  meta {
    name "SMS notifications"
    shares sent, last
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})
    phone = re#^\+?[0-9]{6,15}$#
    valid = config{"from_number"}.isnull() || config{"from_number"} like phone
      || install:refuse("from_number: must be a phone number such as +15559999")

    // How many were queued, and Twilio's last answer.
    sent = function() { ent:sent.defaultsTo(0) }
    last = function() { ent:last.defaultsTo({}) }
  }

  rule notify {
    select when notification status
    pre {
      to = event:attrs{"phone_number"}.defaultsTo("")
      from = event:attrs{"from_number"}.defaultsTo(config{"from_number"}).defaultsTo("")
      text = event:attrs{"message"}.defaultsTo("Status changed")
    }
    if to like phone && from like phone then
      twilio:send_sms(to, from, text) setting(queued)
    fired {
      ent:sent := sent() + 1;
      ent:last := {"queued": queued}
    } else {
      raise notification event "rejected" attributes {
        "reason": not (to like phone) => "phone_number must be a phone number (6 to 15 digits)"
          | "from_number must be given (the event or the install config) as a phone number"
      }
    }
  }

  rule rejected {
    select when notification rejected
    send_directive("rejected", {"reason": event:attrs{"reason"}})
  }

  // The outbox's report.
  rule reported {
    select when twilio sms_sent or twilio sms_failed
    fired {
      ent:last := event:attrs.put("event", event:name)
    }
  }
}
