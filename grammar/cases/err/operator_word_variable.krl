// `count` is an event operator word: it cannot be used as a variable.
ruleset io.example.err.operator_word {
  rule tally {
    select when sms inbound
    pre {
      count = 3
      doubled = count * 2
    }
    send_directive("tally", {"doubled": doubled})
  }
}
