// Classic raise forms: a bare word in the type position
// (`raise explicit event foo`) and `with` attributes.
ruleset a18x5 {
  rule handoff {
    select when twilio incoming
    pre {
      caller = event:attr("From")
    }
    always {
      raise explicit event got_call with caller = caller and at = time:now();
      raise explicit event "logged" with caller = caller
    }
  }
}
