// `pre { ... }`: declarations with and without `;`, using setting
// variables and earlier declarations, and an empty prelude.
ruleset io.example.cases.prelude {
  global {
    price = 4
  }
  rule order_total {
    select when shop order qty re#^(\d+)$# setting(qty)
    pre {
      total = qty.as("Number") * price;
      label = <<#{total} units>>;
      tagged = {"label": label, "qty": qty}
      empty_list = [];
    }
    send_directive("total", tagged.put("list", empty_list))
  }
  rule empty_pre {
    select when shop ping
    pre { }
    noop()
  }
}
