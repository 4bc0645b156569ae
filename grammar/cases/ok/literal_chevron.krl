// Chevron strings: verbatim multi-line text, beestings with any
// expression, escapes \> and \#{, comment markers as plain text, and a
// chevron nested inside a beesting.
ruleset io.example.cases.chevron {
  global {
    empty = <<>>
    card = function(name, price, qty) {
      <<Dear #{name},
  your total is #{price * qty}.
>>
    }
    arrows = <<press 1 >\> then # // not a comment /* nor this */>>
    opener = <<type \#{code} literally, a \\ stays one>>
    nested = function(who) { <<outer #{<<inner #{who}>>} done>> }
    braces = <<#{ {"a": 1}{"a"} } and #{[1, 2]}>>
  }
  rule show_chevrons {
    select when voice prompt
    send_directive("say", {
      "card": card("Ada", 2, 3),
      "arrows": arrows,
      "opener": opener,
      "nested": nested("Grace"),
      "braces": braces,
      "empty": empty
    })
  }
}
