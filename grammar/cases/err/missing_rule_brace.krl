// The first rule's closing brace is missing, so `rule` appears inside it.
ruleset io.example.err.rule_brace {
  rule hello {
    select when echo hello
    send_directive("hello")

  rule goodbye {
    select when echo goodbye
    send_directive("goodbye")
  }
}
