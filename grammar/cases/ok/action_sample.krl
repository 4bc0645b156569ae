// `sample { ... }` runs one of its actions at random.
ruleset io.example.cases.sample {
  rule hold_music {
    select when twilio hold
    sample {
      twilio:play("https://example.com/jazz.mp3");
      twilio:play("https://example.com/classical.mp3");
      twilio:say("Please hold.")
    }
  }
}
