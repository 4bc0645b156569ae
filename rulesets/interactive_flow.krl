// A phone menu written as explicit states, after seed 002
// ("twilio-interactive-flow"): docs/seeds/002-interactive-flow.md maps the
// seed's library onto this ruleset.
//
// Every state is an event type of the `twilio` domain, so every state is
// routable: Twilio reaches it at PUBLIC/sky/event/ECI/none/twilio/STATE,
// and a live call can be moved into it with
// twilio:redirect_call(CallSid, "STATE"). A transition is a raised event:
// the next state renders in the same answer.
//
//   inbound_call   entry (the number's voice webhook): opens the call's
//                  record, then check_hours
//   check_hours    branching, renders nothing: main_menu in business
//                  hours, closed otherwise (time zone and hours from config)
//   main_menu      normal: welcome (a fingerprinted recording or speech)
//                  and a Gather; 1 lunch_special, 2 hours, 3 lookup,
//                  anything else (or nothing) says so and asks again, at
//                  most max_tries times, then goodbye
//   lunch_special  normal: 1 hours, anything else goodbye
//   lookup         asynchronous: "please hold" and hold music at once; the
//                  slow work (an http:get of lookup_url) runs as a
//                  scheduled event after the answer, then moves the live
//                  call to lookup_done or lookup_failed
//   hours, closed, goodbye, lookup_done, lookup_failed: end states (speak,
//                  hang up)
//
// Each call's record (caller, tries per state, the lookup's state and
// result) is the call-session variable session:call, kept by the engine
// per CallSid until an end state clears it, the call's completed status
// callback, or --call-session-ttl after its last write.
//
// Install config (meta:rulesetConfig; all optional, lookup_url needed by
// the lookup state; anything else, or a bad value, refuses the install):
//   {"company": "Foo Corp", "voice": "alice", "tz": "America/Denver",
//    "open_days": [1, 2, 3, 4, 5], "opens": "09:00", "closes": "17:00",
//    "welcome_audio": "welcome.mp3", "hold_music": "hold.mp3",
//    "lookup_url": "https://example.org/forecast", "lookup_field": "text",
//    "lunch_special": "Our lunch special is a hamburger.",
//    "max_tries": 3, "gather_timeout": 5,
//    "account_sid": "AC...", "auth_token": "..."}
// Audio files are served by `krl serve --static DIR`; account_sid and
// auth_token are the credentials of twilio:redirect_call (else the
// engine's --twilio-account-sid / --twilio-auth-token).
ruleset io.krl.interactive_flow {
  meta {
    name "Interactive flow"
    description <<
      A state-machine IVR: routable states, transitions on input, a
      business-hours branch, and an asynchronous lookup with hold music.
    >>
    shares call, states, is_open
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})
    company = config{"company"}.defaultsTo("Foo Corp")
    voice = config{"voice"}
    tz = config{"tz"}.defaultsTo("UTC")
    open_days = config{"open_days"}.defaultsTo([1, 2, 3, 4, 5])
    opens = config{"opens"}.defaultsTo("09:00")
    closes = config{"closes"}.defaultsTo("17:00")
    welcome_audio = config{"welcome_audio"}
    hold_music = config{"hold_music"}.defaultsTo("hold.mp3")
    lookup_url = config{"lookup_url"}
    lookup_field = config{"lookup_field"}.defaultsTo("text")
    lunch_special_text = config{"lunch_special"}.defaultsTo("Our lunch special is a hamburger.")
    max_tries = config{"max_tries"}.defaultsTo(3)
    gather_timeout = config{"gather_timeout"}.defaultsTo(5)

    // "HH:MM" → minutes since midnight (null when malformed)
    minutes = function(hhmm) {
      m = hhmm.typeof() == "String" => hhmm.extract(re#^([01]?\d|2[0-3]):([0-5]\d)$#) | [];
      m.length() == 2 => m[0].as("Number") * 60 + m[1].as("Number") | null
    }
    open_at = minutes(opens)
    close_at = minutes(closes)
    day_names = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    // The install is refused (400, with these messages) when the config
    // has a setting this ruleset cannot work with.
    known = [
      "company",
      "voice",
      "tz",
      "open_days",
      "opens",
      "closes",
      "hours_text",
      "welcome_audio",
      "hold_music",
      "lookup_url",
      "lookup_field",
      "lunch_special",
      "max_tries",
      "gather_timeout",
      "account_sid",
      "auth_token"
    ]
    texts = [
      "company",
      "voice",
      "tz",
      "hours_text",
      "welcome_audio",
      "hold_music",
      "lookup_url",
      "lookup_field",
      "lunch_special",
      "account_sid",
      "auth_token"
    ]
    whole = function(v, low) { v.typeof() == "Number" && math:int(v) == v && v >= low }
    weekday = function(d) { whole(d, 0) && d <= 6 }
    problems = config.keys()
      .filter(function(k) { not (known >< k) })
      .map(function(k) { k + ": unknown setting (known: " + known.join(", ") + ")" })
      .append(texts.filter(function(k) { not (config{k}.isnull() || config{k}.typeof() == "String") })
        .map(function(k) { k + ": must be a string" }))
      .append([
        tz.typeof() != "String" || time:zone(tz) => null
          | "tz: unknown time zone " + tz.encode() + " (an IANA name such as \"America/Denver\")",
        open_days.typeof() == "Array" && open_days.all(weekday) => null
          | "open_days: must be a list of weekdays, 0 (Sunday) to 6 (Saturday)",
        open_at.isnull() => "opens: must be a 24-hour time HH:MM, not " + opens.encode() | null,
        close_at.isnull() => "closes: must be a 24-hour time HH:MM, not " + closes.encode() | null,
        open_at.isnull() || close_at.isnull() || close_at > open_at => null
          | "closes: must be later than opens",
        lookup_url.isnull() || lookup_url like re#^https?://[^\s/]+# => null
          | "lookup_url: must be an http:// or https:// URL",
        whole(max_tries, 1) => null | "max_tries: must be a whole number, 1 or more",
        whole(gather_timeout, 1) => null | "gather_timeout: must be a whole number of seconds, 1 or more",
        // what twilio:say accepts as its voice
        voice.typeof() != "String" || voice like re#^(man|woman|alice|Polly\..+|Google\..+)$# => null
          | "voice: must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME"
      ])
      .filter(function(p) { not p.isnull() })
    valid = problems.length() == 0 || install:refuse("interactive_flow: " + problems.join("; "))

    // ------------------------------------------------------------ queries

    // a call's record (query with the call's CallSid argument)
    call = function() { session:call }
    // the states and what they are (for people and tests)
    states = function() {
      {
        "inbound_call": "entry",
        "check_hours": "branching",
        "main_menu": "normal",
        "lunch_special": "normal",
        "lookup": "asynchronous",
        "hours": "end",
        "closed": "end",
        "goodbye": "end",
        "lookup_done": "end",
        "lookup_failed": "end"
      }
    }
    // is the business open at `when` (an ISO date; now when omitted)?
    is_open = function(when) {
      t = time:local(when.defaultsTo(time:now()), tz);
      m = t{"hour"} * 60 + t{"minute"};
      (open_days >< t{"weekday"}) && m >= open_at && m < close_at
    }

    // ------------------------------------------------------------ helpers

    hours_text = config{"hours_text"}.defaultsTo(
      "Our hours are " + opens + " to " + closes + ", " +
        open_days.map(function(d) { day_names[d] }).join(", ") + "."
    )
    tries = function(state) { session:call{["tries", state]}.defaultsTo(0) }
    // the first key pressed, "" for none
    pressed = function() { event:attrs{"Digits"}.defaultsTo("").substr(0, 1) }

    // says `text`, or plays `audio` (a file of --static, fingerprinted
    // so Twilio caches it until it changes) when one is configured
    prompt = defaction(audio, text) {
      kind = audio => "recording" | "speech"
      choose kind {
        recording => twilio:play(twilio:url_for(audio));
        speech => twilio:say(text, voice = voice);
      }
    }
    // an end state: speak, then hang up
    finish = defaction(text) {
      every {
        twilio:say(text, voice = voice);
        twilio:say("Thank you for calling " + company + ". Goodbye.", voice = voice);
        twilio:hangup();
      }
    }
  }

  // ============================================================ states

  // ENTRY (routable): the number's voice webhook. Opens the call's record
  // in its session, then branches without rendering.
  rule inbound_call {
    select when twilio inbound_call CallSid re#.#
    always {
      session:call := {"started": time:now(), "from": event:attrs{"From"}, "tries": {}};
      raise twilio event "check_hours" attributes event:attrs
    }
  }

  // BRANCHING, not rendering: business hours in the configured zone.
  rule check_hours {
    select when twilio check_hours
    pre {
      next = is_open() => "main_menu" | "closed"
    }
    always {
      raise twilio event next attributes event:attrs
    }
  }

  // NORMAL: the main menu. Its input comes back as main_menu_input (the
  // Gather's action); no input falls through to the Redirect, which
  // posts the same event without Digits.
  rule main_menu {
    select when twilio main_menu
    every {
      twilio:gather_start("main_menu_input", numDigits = 1, timeout = gather_timeout);
      prompt(welcome_audio, "Welcome to " + company + ".");
      twilio:say("For our lunch special, press 1. For our hours, press 2. " +
          "For today's forecast, press 3.", voice = voice);
      twilio:gather_stop();
      twilio:redirect("main_menu_input");
    }
  }

  rule main_menu_input {
    select when twilio main_menu_input
    pre {
      next = {"1": "lunch_special", "2": "hours", "3": "lookup"}{pressed()}
    }
    always {
      raise twilio event next attributes event:attrs if next;
      raise interactive_flow event "invalid_input"
        attributes event:attrs.put("state", "main_menu") if next.isnull()
    }
  }

  // NORMAL: the lunch special; 1 goes on to the hours, anything else
  // ends the call (as in the seed's example).
  rule lunch_special {
    select when twilio lunch_special
    every {
      twilio:gather_start("lunch_special_input", numDigits = 1, timeout = gather_timeout);
      twilio:say(lunch_special_text, voice = voice);
      twilio:say("To hear our hours, press 1.", voice = voice);
      twilio:gather_stop();
      twilio:redirect("lunch_special_input");
    }
  }

  rule lunch_special_input {
    select when twilio lunch_special_input
    pre {
      next = pressed() == "1" => "hours" | "goodbye"
    }
    always {
      raise twilio event next attributes event:attrs
    }
  }

  // Invalid or no input in a normal state: say so and render the state
  // again, or end the call after max_tries attempts.
  rule invalid_input {
    select when interactive_flow invalid_input
    pre {
      state = event:attrs{"state"}
      n = tries(state) + 1
      again = n < max_tries
      heard = pressed() == "" => "Sorry, I didn't get that." | "Sorry, that is not an option."
    }
    if again then twilio:say(heard, voice = voice)
    fired {
      session:call{["tries", state]} := n;
      raise twilio event state attributes event:attrs.delete("state")
    } else {
      raise twilio event "goodbye"
        attributes event:attrs.delete("state").put("reason", "Sorry, we could not understand your choice.")
    }
  }

  // ASYNCHRONOUS: answers at once (please hold, then the hold-music
  // endpoint, which plays in a loop until the call is redirected) and
  // starts the slow work after the answer: a scheduled event runs once
  // this event is committed, so the http:get never delays the caller's
  // TwiML. A second scheduled event, one millisecond later, settles the
  // call if the work ended without moving it (an http:get that failed or
  // timed out is a runtime error, which discards everything the work
  // event did).
  rule lookup {
    select when twilio lookup
    pre {
      sid = event:attrs{"CallSid"}
      now = time:now()
      job = {"CallSid": sid, "From": event:attrs{"From"}}
    }
    every {
      twilio:say("Please hold while we look that up.", voice = voice);
      twilio:redirect("/static-loop/" + hold_music);
    }
    fired {
      session:call{"lookup"} := "waiting";
      schedule interactive_flow event "lookup_work" at now attributes job;
      schedule interactive_flow event "lookup_settle" at time:add(now, {"ms": 1}) attributes job
    }
  }

  rule lookup_work {
    select when interactive_flow lookup_work
    pre {
      sid = event:attrs{"CallSid"}
      waiting = session:call{"lookup"} == "waiting" && lookup_url
      answer = waiting => http:get(lookup_url, qs = {"From": event:attrs{"From"}}, parseJSON = true) | null
      status = answer{"status_code"}.defaultsTo(0)
      content = answer{"content"}
      found = content.typeof() == "Map" => content{lookup_field} | content
      text = found.isnull() => "" | found.as("String").trim()
      ok = status >= 200 && status < 300 && text != ""
      outcome = ok => "done" | "failed"
    }
    if waiting then twilio:redirect_call(sid, "lookup_" + outcome)
    fired {
      session:call{"lookup"} := outcome;
      session:call{"result"} := text if ok;
      session:call{"error"} := "HTTP " + status if not ok;
      log warn <<lookup for #{sid}: HTTP #{status}>> if not ok
    }
  }

  rule lookup_settle {
    select when interactive_flow lookup_settle
    pre {
      sid = event:attrs{"CallSid"}
      stuck = session:call{"lookup"} == "waiting"
      why = lookup_url => "the lookup failed (see the log)" | "no lookup_url configured"
    }
    if stuck then twilio:redirect_call(sid, "lookup_failed")
    fired {
      session:call{"lookup"} := "failed";
      session:call{"error"} := why;
      log warn <<lookup for #{sid}: #{why}>>
    }
  }

  // Twilio refused to move the call (the caller hung up while on hold):
  // nothing more will happen on it, so its record goes now rather than
  // when its session expires.
  rule redirect_refused {
    select when twilio call_redirect_failed
    always {
      log info <<call #{event:attrs{"CallSid"}} could not be moved: #{event:attrs{"message"}}>>;
      clear session:call
    }
  }

  // Routable end states the lookup moves the live call to.
  rule lookup_done {
    select when twilio lookup_done
    pre {
      result = session:call{"result"}.defaultsTo("Sorry, the result is no longer available.")
    }
    finish(result)
    always {
      clear session:call
    }
  }

  rule lookup_failed {
    select when twilio lookup_failed
    finish("We're sorry, we could not look that up right now. Please try again later.")
    always {
      clear session:call
    }
  }

  // END states.
  rule hours {
    select when twilio hours
    finish(hours_text)
    always {
      clear session:call
    }
  }

  rule closed {
    select when twilio closed
    finish("Thanks for calling " + company + ". We are closed right now. " + hours_text)
    always {
      clear session:call
    }
  }

  rule goodbye {
    select when twilio goodbye
    finish(event:attrs{"reason"}.defaultsTo("Thanks for your call."))
    always {
      clear session:call
    }
  }
}
