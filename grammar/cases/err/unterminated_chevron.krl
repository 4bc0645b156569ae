// A chevron that is never closed (a single `>` does not close it).
ruleset io.example.err.chevron {
  global {
    prompt = <<Press 1 for sales >
  }
  rule hello {
    select when echo hello
    send_directive(prompt)
  }
}
