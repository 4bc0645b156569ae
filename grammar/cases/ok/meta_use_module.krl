// `use module` with and without alias, with a `with` list separated by
// whitespace or by `and`, and the same module under two aliases.
ruleset io.example.cases.use_module {
  meta {
    use module units
    use module io.example.greeter alias formal with greeting = "Good day"
    use module io.example.greeter alias casual with greeting = "Hey" and punct = "!"
    use module io.example.sms alias sms with from = "+15550000" retries = 3
  }
  rule greet_both {
    select when twilio inbound_call
    pre {
      caller = event:attrs{"From"}
    }
    every {
      send_directive("greetings", {"formal": formal:greet(caller), "casual": casual:greet(caller)});
      sms:send(caller, units:convert(20, "C"));
    }
  }
}
