ruleset bench.phonetree {
  meta {
    name "load benchmark phone tree: one map entry per caller"
    shares choice, callers
  }
  global {
    choice = function(caller) {
      ent:choices{caller}
    }
    callers = function() {
      ent:choices.keys().length()
    }
  }
  rule choose {
    select when twilio choice
    pre {
      caller = event:attr("From")
      digits = event:attr("Digits")
    }
    send_directive("choice", {"caller": caller, "digits": digits})
    always {
      ent:choices{[caller]} := digits
    }
  }
  rule fill {
    select when bench fill
    pre {
      callers = 0.range(event:attr("n").as("Number") - 1).collect(function(i) {
        "+1555" + i
      })
    }
    always {
      ent:choices := callers
    }
  }
}
