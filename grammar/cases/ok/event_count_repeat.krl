// `count N (simple)` and `repeat N (simple)`, without and with every
// aggregator: max, min, sum, avg, push.
ruleset io.example.cases.event_aggregate {
  rule third_ring {
    select when count 3 (call ring)
    send_directive("third ring")
  }
  rule repeated_motion {
    select when repeat 2 (sensor motion room re#(.+)# setting(room))
    send_directive("motion", {"room": room})
  }
  rule max_reading {
    select when count 3 (meter reading v re#(\d+)#) max(m)
    send_directive("max", {"m": m})
  }
  rule min_reading {
    select when repeat 3 (meter reading v re#(\d+)#) min(low)
    send_directive("min", {"low": low})
  }
  rule total {
    select when count 4 (meter reading v re#(\d+)#) sum(total)
    send_directive("sum", {"total": total})
  }
  rule average {
    select when repeat 5 (temp sample c re#(-?\d+\.?\d*)#) avg(avg_c)
    send_directive("avg", {"avg": avg_c})
  }
  rule pushed {
    select when repeat 3 (chat msg who re#(.+)# text re#(.*)#) push(whos, texts)
    send_directive("push", {"whos": whos, "texts": texts})
  }
}
