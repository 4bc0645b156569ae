// `configure using` declares module parameters with defaults, separated
// by whitespace, `;` is not needed; they are ordinary global names.
ruleset io.example.cases.configure {
  meta {
    name "Greeter"
    configure using
      greeting = "Hello"
      punct = "."
      limits = {"low": 18, "high": 22}
    provides greet
  }
  global {
    greet = function(name) { greeting + ", " + name + punct }
  }
  rule greet_caller {
    select when twilio inbound_call
    send_directive("greet", {"text": greet(event:attrs{"From"}), "limits": limits})
  }
}
