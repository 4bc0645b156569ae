// Classic meta properties that are accepted and ignored: authz, sharing,
// use css/javascript resource.
ruleset a18x7 {
  meta {
    name "Legacy"
    authz require user
    sharing on
    use css resource "https://example.com/site.css"
    use javascript resource jquery
    logging on
  }
  rule main {
    select when echo hello
    send_directive("say")
  }
}
