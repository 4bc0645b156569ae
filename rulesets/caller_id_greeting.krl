// Greets a caller by name when the calling number is in the pico's
// directory, and as "friend" otherwise.
//
// Install with a config such as
//   {"directory": {"+15550001": "Ada", "+15550002": "Grace"}, "voice": "alice"}
// (read as meta:rulesetConfig; a ruleset using this one as a module sets
// the same names with `with`) and point a Twilio number's voice webhook at
//   PUBLIC/sky/event/ECI/none/twilio/inbound_call
ruleset io.krl.caller_id_greeting {
  meta {
    name "Caller-ID greeting"
    description <<
      Answers a call with the caller's name from a small directory.
    >>
    configure using
      directory = {}
      voice = "alice"
    shares callers
  }

  global {
    // who called, most recent last (at most 20)
    callers = function() { ent:callers.defaultsTo([]) }
    // the install config wins over the configure using defaults
    config = meta:rulesetConfig.defaultsTo({})
    names = config{"directory"}.defaultsTo(directory)
    speaker = config{"voice"}.defaultsTo(voice)
    nameFor = function(number) { names{number} || "friend" }
  }

  rule answer {
    select when twilio inbound_call
    pre {
      from = event:attrs{"From"}
      who = nameFor(from)
    }
    every {
      twilio:say(<<Hello #{who}, thanks for calling.>>, voice = speaker);
      twilio:hangup();
    }
    fired {
      seen = callers().append(from);
      ent:callers := seen.length() > 20 => seen.tail() | seen if from
    }
  }
}
