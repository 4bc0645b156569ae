// A rule has at most one `pre` block.
ruleset io.example.err.two_pre {
  rule order {
    select when shop order
    pre {
      qty = event:attrs{"qty"}
    }
    pre {
      label = qty + " items"
    }
    send_directive("order", {"label": label})
  }
}
