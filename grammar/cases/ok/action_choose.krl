// `choose E { label => action ... }`: on a variable, on a parenthesised
// path expression, and on a call.
ruleset io.example.cases.choose {
  global {
    pick = function(digit) { digit == "1" => "small" | "large" }
  }
  rule by_variable {
    select when twilio menu Digits re#^(\d)$# setting(digit)
    pre {
      size = pick(digit)
    }
    choose size {
      small => twilio:say("Small pizza");
      large => twilio:say("Large pizza")
    }
  }
  rule by_path {
    select when twilio menu
    choose (event:attrs{"Digits"}) {
      one => twilio:say("one") setting(said);
      two => twilio:say("two");
    }
  }
  rule by_call {
    select when twilio menu
    choose pick(event:attrs{"Digits"}) {
      small => send_directive("small");
      large => send_directive("large");
    }
  }
}
