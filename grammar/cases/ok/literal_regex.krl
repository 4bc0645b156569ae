// Regular expression literals: flags g, i, m (in any combination), an
// escaped delimiter \#, other escapes passed through, and the empty pattern.
ruleset io.example.cases.regex {
  global {
    phone = re#^\+1(\d{3})(\d{7})$#
    hashtag = re#\#(\w+)#gi
    multi = re#^stop$#m
    all_flags = re#yes#gim
    slash = re#a/b#g
    dot = re#a\.b#
    empty = re##
  }
  rule match_body {
    select when sms inbound
    pre {
      body = event:attrs{"Body"}.defaultsTo("")
    }
    send_directive("regex", {
      "is_stop": body like multi,
      "tags": body.extract(hashtag),
      "phone": event:attrs{"From"}.defaultsTo("").match(phone),
      "others": [all_flags, slash, dot, empty]
    })
  }
}
