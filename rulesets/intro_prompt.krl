// A recorded prompt (docs/twilio.md, "A complete example"): the call
// hears intro.mp3 from the engine's --static folder, then a sentence.
// twilio:url_for gives the file's URL with its fingerprint, so Twilio
// fetches it again only when the file changes.
ruleset io.krl.intro_prompt {
  rule answer {
    select when twilio inbound_call
    every {
      twilio:play(twilio:url_for("intro.mp3"));
      twilio:say("Thanks for calling.")
    }
  }
}
