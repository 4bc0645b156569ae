// Classic meta: `key` with a map or a string value, `keys`, `provides keys
// ... to ...`, `errors to`, `use module ... version`, `configure using ...
// and ...`, and `logging off` (krl-language.md 10.4).
ruleset a77x1 {
  meta {
    name "Pizza line"
    key twilio {
      "account_sid": "AC0000",
      "auth_token": "secret"
    }
    key maps "maps-api-key"
    keys weather "weather-key"
    provides keys twilio, maps to a8x115, b16x2
    errors to a16x78 version "dev"
    use module a8x115 version "prod" alias twilio with twiliokeys = keys:twilio() and mode = "voice"
    configure using account = "main" and region = "us"
    logging off
  }
  rule welcome {
    select when twilio incoming
    send_directive("keys", {"maps": keys:maps, "sid": keys:twilio("account_sid"), "region": region, "account": account})
  }
}
