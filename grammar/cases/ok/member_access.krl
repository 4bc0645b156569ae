// Member access: path get `{}` with a key or a key list, index `[]`,
// chains of both, and the deprecated property `.name`.
ruleset io.example.cases.member {
  global {
    call = {
      "caller": {"number": "+15550100", "name": "Ada"},
      "digits": ["1", "4", "9"],
      "legs": [{"to": "+15550199", "status": "completed"}]
    }
    number = call{"caller"}{"number"}
    by_list = call{["legs", 0, "status"]}
    first_digit = call["digits"][0]
    mixed = call{"legs"}[0]{"to"}
    chained = call{"digits"}[1].length()
    missing = call{"nope"}
    null_get = null{"a"}
    count_prop = call.digits.length
    literal_get = {"a": [10, 20]}{"a"}[1]
  }
  rule access_call {
    select when twilio status
    send_directive("member", {
      "values": [number, by_list, first_digit, mixed, chained, missing, null_get, count_prop, literal_get]
    })
  }
}
