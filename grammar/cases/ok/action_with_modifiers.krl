// Classic `with` modifiers: `with a = 1 and b = 2`, without `and`, after
// `setting(x)`, and `setting(x)` after the modifiers.
ruleset a8x116 {
  rule say_with_voice {
    select when twilio incoming
    twilio:say("Hello there") with voice = "woman" and language = "en"
  }
  rule directive_options {
    select when echo hello
    send_directive("say") with something = "Hello World"
  }
  rule post_hook {
    select when device report
    pre {
      payload = {"t": 20}
    }
    every {
      http:post("https://example.com/hook") setting(resp) with body = payload and headers = {"x-key": "k"};
      twilio:gather_start("next") with numDigits = "1" timeout = 5 setting(g);
    }
    fired {
      ent:last := [resp, g]
    }
  }
}
