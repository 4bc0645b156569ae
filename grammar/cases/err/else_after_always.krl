// `else` belongs to `fired`/`notfired`, not to `always`.
ruleset io.example.err.always_else {
  rule count_calls {
    select when twilio inbound_call
    always {
      ent:calls := ent:calls.defaultsTo(0) + 1
    } else {
      ent:missed := true
    }
  }
}
