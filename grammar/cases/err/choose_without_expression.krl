// `choose` needs the value to compare the labels with.
ruleset io.example.err.choose {
  rule route {
    select when call route
    choose {
      sales => send_directive("to_sales");
      help => send_directive("to_help");
    }
  }
}
