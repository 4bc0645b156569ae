// Default parameter values (any expression, may use earlier parameters)
// and named arguments after positional ones, with a trailing comma.
ruleset io.example.cases.defaults {
  global {
    describe = function(name, greeting = "Hello", punct = greeting == "Hello" => "!" | ".") {
      greeting + ", " + name + punct
    }
    sms_body = function(to, text = "ping", loud = false, retries = 1 + 2) {
      {"to": to, "text": loud => text.uc() | text, "retries": retries}
    }
  }
  rule named_arguments {
    select when sms outbound
    send_directive("defaults", {
      "plain": describe("Ann"),
      "named": describe("Ann", punct = "?"),
      "both": describe("Bo", greeting = "Hi", punct = "."),
      "sms": sms_body("+15550100", loud = true,),
      "positional": sms_body("+15550100", "pong", false)
    })
  }
}
