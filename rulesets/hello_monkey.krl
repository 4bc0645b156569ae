// Hello Monkey (seed 003, the classic Kynetx Twilio example), in this
// project's words: a call is greeted by the caller's name when the
// calling number is in the pico's directory ("Hello Big Bird"), else as
// "Hello Monkey"; then the caller is asked for a favourite number (one
// key) and hears it back. A text message gets the greeting as a reply.
//
// Install config, all optional (docs/seeds/003-hello-monkey.md):
//   {"directory": {"+8015552311": "Big Bird"},   // replaces the seed's
//    "stranger": "Monkey",                        // name for the others
//    "ask_favorite": true,                        // false: greet, hang up
//    "voice": "woman"}
//
// Webhooks of the Twilio number:
//   voice: PUBLIC/sky/event/ECI/none/twilio/inbound_call
//   SMS:   PUBLIC/sky/event/ECI/none/twilio/sms
ruleset io.krl.hello_monkey {
  meta {
    name "Hello Monkey"
    description <<
      Caller-ID greeting and a favourite-number gather.
    >>
    shares favorites
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})
    // The seed's directory unless the install config gives one.
    directory = config{"directory"}.defaultsTo({
      "+911": "The Man",
      "+8015552311": "Big Bird",
      "+8029875634": "Scam Artist"
    })
    stranger = config{"stranger"}.defaultsTo("Monkey")
    ask_favorite = config{"ask_favorite"}.defaultsTo(true)
    voice = config{"voice"}.defaultsTo("woman")

    valid = directory.typeof() == "Map"
      || install:refuse("directory: must be a map from phone numbers to names")
    // what twilio:say accepts as its voice
    voice_ok = voice like re#^(man|woman|alice|Polly\..+|Google\..+)$#
      || install:refuse("voice: must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME")

    name_of = function(number) { directory{number}.defaultsTo(stranger) }

    // The favourite numbers callers gave, by calling number.
    favorites = function() { ent:favorites.defaultsTo({}) }
  }

  rule answer {
    select when twilio inbound_call
    pre {
      name = name_of(event:attrs{"From"})
    }
    if ask_favorite then every {
      twilio:say("Hello " + name, voice = voice);
      twilio:gather_start("monkey_handle", numDigits = 1);
      twilio:say("What is your favorite number?", voice = voice);
      twilio:gather_stop();
      // reached only when the caller pressed nothing
      twilio:hangup();
    }
    notfired {
      raise monkey event "greet_only" attributes {"name": name}
    }
  }

  // The seed's first version: greet, then hang up.
  rule greet_only {
    select when monkey greet_only
    every {
      twilio:say("Hello " + event:attrs{"name"}, voice = voice);
      twilio:hangup();
    }
  }

  rule picked {
    select when twilio monkey_handle
    pre {
      favorite = event:attrs{"Digits"}
      from = event:attrs{"From"}
    }
    every {
      twilio:say("Your favorite number is " + favorite + ".", voice = voice);
      twilio:hangup();
    }
    fired {
      ent:favorites{from} := favorite if from && favorite
    }
  }

  rule texted {
    select when twilio sms
    pre {
      body = event:attrs{"Body"}.defaultsTo("")
    }
    twilio:message("Hello " + name_of(event:attrs{"From"}) + "! You said: " + body)
  }
}
