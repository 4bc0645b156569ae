// `log LEVEL expr` and `error LEVEL expr` with every level, and `last`.
ruleset io.example.cases.log_error {
  rule log_levels {
    select when device diag
    always {
      log error "disk full";
      log warn "battery low";
      log info <<device #{event:attrs{"id"}} checked in>>;
      log debug event:attrs;
      error info {"what": "just so you know"};
      error debug "tracing";
      error warn "no reading";
      error error "giving up";
      last
    }
  }
  rule after_last {
    select when device diag
    send_directive("not reached when the rule above ran `last`")
  }
}
