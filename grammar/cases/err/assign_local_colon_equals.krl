// Only entity and application variables can be assigned with `:=`.
ruleset io.example.err.colon_equals {
  rule remember {
    select when sms inbound
    always {
      last_body := event:attrs{"Body"}
    }
  }
}
