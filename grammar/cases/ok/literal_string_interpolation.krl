// Classic interpolation in double-quoted strings (krl-language.md 10.1):
// "#{expr}" inserts a value, "\#{" writes a literal "#{".
ruleset io.example.cases.string_interp {
  global {
    greet = function(name, unread) {
      "Hello #{name}, you have #{unread + 1} new messages"
    }
    literal_opener = "Write \#{name} to interpolate"
    nested_map = "Room #{ {"kitchen": 3}{"kitchen"} } is on"
  }
  rule welcome_text {
    select when sms inbound
    pre {
      sender = event:attrs{"From"}
    }
    send_directive("reply", {
      "body": greet(sender, 2),
      "help": literal_opener,
      "room": nested_map,
      "echo": "You wrote: #{event:attrs{"Body"}}"
    })
  }
}
