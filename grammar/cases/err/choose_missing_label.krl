// Every action inside `choose` needs a label.
ruleset io.example.err.choose_label {
  rule route {
    select when call route
    choose event:name {
      sales => send_directive("to_sales");
      send_directive("to_help");
    }
  }
}
