// Parentheses override the event operator powers.
ruleset io.example.cases.event_parens {
  rule and_then_or {
    select when (door a and door b) or door c
    send_directive("grouped_and")
  }
  rule and_of_or {
    select when door a and (door b or door c)
    send_directive("grouped_or")
  }
  rule nested {
    select when ((door a before door b) or (door c then door d)) and door e
    send_directive("nested")
  }
  rule single {
    select when (door a)
    send_directive("single")
  }
}
