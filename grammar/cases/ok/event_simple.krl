// Simple event expressions: `domain type` and `domain:type`, and operator
// words used as event types.
ruleset io.example.cases.event_simple {
  rule space_form {
    select when echo hello
    send_directive("space")
  }
  rule colon_form {
    select when echo:hello
    send_directive("colon")
  }
  rule colon_with_spaces {
    select when twilio : inbound_call
    send_directive("spaced colon")
  }
  rule operator_word_types {
    select when meter count or meter repeat or meter any
    send_directive("operator words")
  }
}
