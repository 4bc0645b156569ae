// Classic literal forms (krl-language.md 10.3): single-quoted strings with
// \' and interpolation, re/.../ regexes with \/, bare #...# regexes, and
// the browser literals <| |> and <[ ]> kept as strings.
ruleset a18x3 {
  global {
    name = 'Kim'
    apostrophe = 'it\'s #{name}'
    slash_regex = re/^\/calls\/(\d+)$/i
    hash_regex = #^\d{3}$#g
    script = <| alert("hi") |>
    xdi = <[ =kim/+phone ]>
    map_with_sq_key = {'voice': "woman"}
  }
  rule classic_literals {
    select when sms inbound
    send_directive("classic", {
      "apostrophe": apostrophe,
      "slash": "/calls/12" like slash_regex,
      "hash": "555" like hash_regex,
      "script": script,
      "xdi": xdi,
      "sq": map_with_sq_key
    })
  }
}
