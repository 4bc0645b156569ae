// Classic `dispatch { ... }` between meta and global is parsed and ignored,
// including nested braces and strings containing braces.
ruleset a41x9 {
  meta {
    name "Old web app"
  }
  dispatch {
    domain "example.com"
    domain "example.org" -> "a41x9.dev"
    { "nested": "}" }
  }
  global {
    greeting = "hello"
  }
  rule hello {
    select when web pageview "example\.com"
    noop()
  }
  rule main {
    select when echo hello
    send_directive("say", {"something": greeting})
  }
}
