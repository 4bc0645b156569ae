// `between` and `not between`: the first operand is the middle event.
ruleset io.example.cases.event_between {
  rule inside {
    select when win mid between(win start, win stop)
    send_directive("inside")
  }
  rule quiet {
    select when call hold not between(call answer, call hangup)
    send_directive("no hold")
  }
  rule compound_middle {
    select when (win a or win b) between(win start, win stop or win abort)
    send_directive("compound")
  }
  rule between_then_or {
    select when win mid between(win start, win stop) or win reset
    send_directive("between or")
  }
}
