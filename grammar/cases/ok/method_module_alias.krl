// `recv.alias:fn(args)` calls a function provided by a used module with
// the receiver as first argument; `alias:fn(...)` calls it directly.
ruleset io.example.cases.module_method {
  meta {
    use module io.example.formatting alias fmt
    use module io.example.phone alias phone with country = "US"
  }
  rule format_number {
    select when sms inbound
    pre {
      raw = event:attrs{"From"}
      pretty = raw.phone:format()
      spaced = raw.phone:format("national", sep = " ")
      title = fmt:title("hello there")
      chained = raw.fmt:trim().phone:format()
    }
    send_directive("formatted", {"pretty": pretty, "spaced": spaced, "title": title, "chained": chained})
  }
}
