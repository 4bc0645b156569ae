// `;;` between declarations is an error.
ruleset io.example.err.semicolons {
  rule order {
    select when shop order
    pre {
      qty = event:attrs{"qty"};;
      label = qty + " items"
    }
    send_directive("order", {"label": label})
  }
}
