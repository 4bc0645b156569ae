// `select where EXPR`: salient for every event.
ruleset io.example.cases.select_where {
  rule audit {
    select where event:domain == "order" && event:attrs{"total"}.as("Number") > 100
    send_directive("big_order")
  }
  rule everything {
    select where true
    noop()
  }
}
