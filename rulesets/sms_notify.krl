// Sends a text message whenever a notification:status event arrives,
// for example from a monitoring job:
//
//   krl event ECI notification status phone_number=+15550001 message="Disk almost full"
//
// Credentials come from the pico's install config (account_sid,
// auth_token) or the engine's environment; the sender is configured here.
ruleset io.krl.sms_notify {
  meta {
    name "SMS notifications"
    configure using
      from_number = "+15550009999"
    shares sent
  }
  global {
    sent = function() { ent:sent.defaultsTo(0) }
  }
  rule notify {
    select when notification status
      phone_number re#^(\+?\d{6,15})$#
      setting(to)
    pre {
      text = event:attrs{"message"}.defaultsTo("Status changed")
    }
    twilio:send_sms(to, from_number, text) setting(response)
    fired {
      ent:sent := sent() + 1;
      ent:last_response := response
    }
  }
  rule bad_number {
    select when notification status
    if not (event:attrs{"phone_number"}.defaultsTo("") like re#^\+?\d{6,15}$#) then
      send_directive("rejected", {"reason": "phone_number must be 6 to 15 digits"})
  }
}
