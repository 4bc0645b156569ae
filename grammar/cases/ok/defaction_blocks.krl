// Defaction bodies may hold any action block: if/then, choose, sample, and
// a defaction without a return value.
ruleset io.example.cases.defaction_blocks {
  global {
    maybe_say = defaction(text) {
      if text then twilio:say(text)
    }
    route = defaction(dept) {
      choose dept {
        sales => send_directive("to_sales");
        help => send_directive("to_help", {"queue": 2});
      }
    }
    jingle = defaction() {
      sample {
        twilio:play("https://example.com/a.mp3");
        twilio:play("https://example.com/b.mp3");
      }
    }
  }
  rule answer_call {
    select when twilio inbound_call
    every {
      maybe_say("Welcome");
      route("help");
      jingle();
    }
  }
}
