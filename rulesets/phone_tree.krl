// A phone tree (seed 000, "IVR with Lambda and the API Gateway"): the
// caller hears three options —
//   1: be put through to a person (Dial),
//   2: join a conference line (Dial + Conference),
//   3: hear a recording (Play) —
// and anything else, or nothing, repeats the prompt (at most `attempts`
// times, then goodbye).
//
// Install config (docs/seeds/000-phone-tree.md):
//   {"person": "+15551230000", "conference": "team-line",
//    "recording": "https://example.org/jiggy.mp3",
//    "prompt": "...", "voice": "alice", "attempts": 3}
// person, conference and recording are mandatory; a missing or bad one
// refuses the install with a message naming it.
//
// Voice webhook of the Twilio number: PUBLIC/sky/event/ECI/none/twilio/inbound_call
ruleset io.krl.phone_tree {
  meta {
    name "Phone tree"
    description <<
      Press 1 for a person, 2 for the conference line, 3 for a recording.
    >>
    shares settings
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})
    person = config{"person"}
    conference = config{"conference"}
    recording = config{"recording"}
    voice = config{"voice"}
    prompt = config{"prompt"}.defaultsTo(
      "Press 1 to talk to a person. Press 2 to join the conference line. " +
        "Press 3 to hear a recording."
    )
    attempts = config{"attempts"}.defaultsTo(3)

    // What is wrong with the install config (empty when nothing is).
    problems = [
      person.isnull() => "person: missing (the number option 1 dials)"
        | (person like re#^(\+?[0-9]{3,15}|sips?:\S+)$# => null
          | "person: " + person.encode() + " is not a phone number (+15551230000) or a sip: address"),
      conference.isnull() => "conference: missing (the conference room option 2 joins)"
        | (conference like re#^\S.{0,127}$# => null | "conference: must be 1 to 128 characters"),
      recording.isnull() => "recording: missing (the URL option 3 plays)"
        | (recording like re#^https?://\S+$# => null
          | "recording: " + recording.encode() + " is not an http(s) URL"),
      attempts like re#^[1-9][0-9]?$# => null | "attempts: must be a whole number from 1 to 99",
      // what twilio:say accepts as its voice
      voice.isnull() || voice like re#^(man|woman|alice|Polly\..+|Google\..+)$# => null
        | "voice: " + voice.encode() + " is not man, woman, alice, Polly.NAME or Google.LOCALE-NAME"
    ].filter(function(p) { not p.isnull() })
    valid = problems.length() == 0 || install:refuse(problems.join("; "))

    settings = function() {
      {
        "person": person,
        "conference": conference,
        "recording": recording,
        "attempts": attempts.as("Number")
      }
    }

    // What each key does.
    options = {"1": "person", "2": "conference", "3": "recording"}
    put_through = defaction() {
      every {
        twilio:say("Connecting you now.", voice = voice);
        twilio:dial(person);
      }
    }
    join_conference = defaction() {
      every {
        twilio:say("Joining the conference line.", voice = voice);
        twilio:dial_conference(conference);
      }
    }
    play_recording = defaction() {
      every {
        twilio:play(recording);
        twilio:hangup();
      }
    }

    // The URL of event twilio:`type` on this channel for the `n`th
    // playing of the prompt.
    url = function(type, n) {
      "/sky/event/" + meta:eci + "/none/twilio/" + type + "?n=" + n
    }
  }

  // The call comes in, or the prompt is played again.
  rule prompt {
    select when twilio inbound_call or twilio phone_tree_prompt
    pre {
      n = event:attrs{"n"}.defaultsTo(1).as("Number")
    }
    if n <= attempts.as("Number") then every {
      twilio:gather_start(url("phone_tree_choice", n), numDigits = 1, timeout = 5);
      twilio:say(prompt, voice = voice);
      twilio:gather_stop();
      // reached only when the caller pressed nothing
      twilio:redirect(url("phone_tree_prompt", n + 1));
    }
    notfired {
      raise phone_tree event "goodbye"
    }
  }

  rule choice {
    select when twilio phone_tree_choice
    pre {
      digit = event:attrs{"Digits"}.defaultsTo("")
      option = options{digit}
      n = event:attrs{"n"}.defaultsTo(1).as("Number")
    }
    if option then choose option {
      person => put_through();
      conference => join_conference();
      recording => play_recording();
    }
    notfired {
      raise phone_tree event "again" attributes {"digit": digit, "n": n}
    }
  }

  // Any other key: say so and play the prompt again.
  rule again {
    select when phone_tree again
    every {
      twilio:say("Sorry, " + event:attrs{"digit"} + " is not an option.", voice = voice);
      twilio:redirect(url("phone_tree_prompt", event:attrs{"n"} + 1));
    }
  }

  rule goodbye {
    select when phone_tree goodbye
    every {
      twilio:say("Goodbye.", voice = voice);
      twilio:hangup();
    }
  }
}
