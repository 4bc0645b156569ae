// A configurable IVR (seed 001, "twilio-aws-ivr"): a welcome, a menu of
// one-key options, and actions (forward with fallbacks, hangup, redirect,
// voicemail with an SMS alert), each optionally guarded by opening hours
// in the IVR's time zone.
//
// One pico per phone number; the install config is the original's
// config.ini as a JSON map, section by section (docs/seeds/001-ivr.md):
//
//   {"ivr": {"timezone": "Europe/London"},
//    "ivr_welcome": {"play_sample": "Thanks for calling.", "hours": "office",
//                    "hours_action_on_closed": "closed"},
//    "ivr_menu": {"play_sample": "Press 1 for sales.", "pause": 2,
//                 "no_input_max_loops": 3, "no_input_action_on_max_loops": "goodbye"},
//    "ivr_menu_option_1": {"action": "sales"},
//    "action_sales": {"type": "forward", "phone_number": "+15551230000",
//                     "action_on_busy": "voicemail", "action_on_no_answer": "voicemail",
//                     "action_on_failed": "voicemail", "action_on_canceled": "goodbye"},
//    "action_voicemail": {"type": "voicemail", ...},
//    "action_goodbye": {"type": "hangup", "play_sample": "Goodbye."},
//    "action_closed": {"type": "hangup", "play_sample": "We are closed."},
//    "hours_office": {"mon": "0900-1200,1300-1730", ..., "sat": "", "sun": ""}}
//
// A sample (play_sample, no_input_sample, hangup_sample, ...) is a
// recording's URL (http or https: <Play>) or else text (<Say>). A
// configuration that is wrong in any way refuses the install, naming each
// problem as "[section] field: what is wrong".
//
// Voice webhook of the Twilio number: PUBLIC/sky/event/ECI/none/twilio/inbound_call
ruleset io.krl.ivr {
  meta {
    name "Configurable IVR"
    description <<
      Welcome, menu, forward/hangup/redirect/voicemail actions and opening
      hours, all from the install config.
    >>
    // Credentials of the voicemail SMS: the config's [twilio] section, or
    // the engine's --twilio-account-sid / --twilio-auth-token.
    use module a8x115 alias twilio
      with twiliokeys = meta:rulesetConfig.defaultsTo({}){"twilio"}
    shares settings, open_now
  }

  global {
    config = meta:rulesetConfig.defaultsTo({})

    // ------------------------------------------------------------------
    // The sections and their fields (true: mandatory), as in the seed's
    // configuration tables, plus voice/language and invalid_option_sample.
    guarded = {"hours": false, "hours_action_on_closed": false}
    fields = {
      "twilio": {"account_sid": true, "auth_token": true},
      "ivr": {"timezone": true, "voice": false, "language": false},
      "ivr_welcome": {"play_sample": false}.put(guarded),
      "ivr_menu": {
        "play_sample": false,
        "pause": false,
        "no_input_sample": false,
        "no_input_max_loops": false,
        "no_input_action_on_max_loops": false,
        "invalid_option_sample": false
      }.put(guarded),
      "option": {"action": true, "play_sample": false}.put(guarded),
      "forward": {
        "type": true,
        "play_sample": false,
        "phone_number": true,
        "action_on_busy": true,
        "action_on_no_answer": true,
        "action_on_failed": true,
        "action_on_canceled": true
      }.put(guarded),
      "hangup": {"type": true, "play_sample": false}.put(guarded),
      "redirect": {"type": true, "play_sample": false, "path": true}.put(guarded),
      "voicemail": {
        "type": true,
        "play_sample": true,
        "hangup_sample": true,
        "voicemail_alert_sms_from": true,
        "voicemail_alert_sms_to": true,
        "voicemail_timeout": true,
        "voicemail_max_length": true
      }.put(guarded),
      "hours": {
        "mon": true,
        "tue": true,
        "wed": true,
        "thu": true,
        "fri": true,
        "sat": true,
        "sun": true
      }
    }
    action_types = ["forward", "hangup", "redirect", "voicemail"]
    // Fields that name an action, a number range per numeric field.
    action_fields = [
      "action",
      "action_on_busy",
      "action_on_no_answer",
      "action_on_failed",
      "action_on_canceled",
      "hours_action_on_closed",
      "no_input_action_on_max_loops"
    ]
    // (Twilio's <Record maxLength> is 2 s or more)
    ranges = {
      "pause": [0, 600],
      "no_input_max_loops": [1, 100],
      "voicemail_timeout": [1, 3600],
      "voicemail_max_length": [2, 14400]
    }
    // What <Say voice> and <Say language> accept (the twilio: verbs' checks)
    voice_re = re#^(man|woman|alice|Polly\..+|Google\..+)$#
    language_re = re#^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$#
    day_names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] // time:local's weekday

    // ------------------------------------------------------------------
    // Opening hours: "0900-1730" (the original's HHMM-HHMM, also 09:00-17:30),
    // several ranges "0900-1200,1300-1730", "all" for the whole day, ""
    // or "closed" for closed. A range includes its last minute (0000-1159
    // is the morning, 0000-2359 the whole day), as the original's
    // examples read. As minutes of the day: [[540, 1050]].
    range_re = re#^([01][0-9]|2[0-3]):?([0-5][0-9])-([01][0-9]|2[0-3]):?([0-5][0-9])$#
    parse_range = function(text) {
      m = text.extract(range_re);
      from = m.length() == 4 => m[0].as("Number") * 60 + m[1].as("Number") | null;
      to = m.length() == 4 => m[2].as("Number") * 60 + m[3].as("Number") | null;
      from.isnull() || from > to => null | [from, to]
    }
    parse_day = function(value) {
      text = value.isnull() => "" | value.as("String").replace(re#\s+#g, "").lc();
      text == "" || text == "closed" => []
        | (text == "all" => [[0, 1439]] | text.split(",").map(parse_range))
    }
    // hours name -> the ranges of each weekday, Sunday first
    hours_table = config.keys()
      .filter(function(k) { k like re#^hours_# && config{k}.typeof() == "Map" })
      .reduce(function(t, k) {
        t.put(k.substr(6), day_names.map(function(d) { parse_day(config{[k, d]}) }))
      }, {})

    tz = config{["ivr", "timezone"]}
    voice = config{["ivr", "voice"]}
    language = config{["ivr", "language"]}

    // Is `hours` open at this moment, in the IVR's time zone?
    open_at = function(hours, now) {
      wall = time:local(now, tz);
      minute = wall{"hour"} * 60 + wall{"minute"};
      hours_table{hours}[wall{"weekday"}].defaultsTo([])
        .any(function(r) { r[0] <= minute && minute <= r[1] })
    }
    // Query: which hours are open now (for checking a configuration).
    open_now = function() {
      hours_table.map(function(v, k) { open_at(k, time:now()) })
    }
    settings = function() { config.delete("twilio") }

    // ------------------------------------------------------------------
    // Checking the configuration, all of it, at install.
    whole = function(v) { v.typeof() == "Number" || v.typeof() == "String" => v like re#^[0-9]+$# | false }
    text = function(v) { v.typeof() == "String" && v.trim() != "" }
    phone = re#^\+?[0-9]{3,15}$#
    is_action = function(name) {
      text(name) && name like re#^[A-Za-z0-9_-]+$# && config{"action_" + name}.typeof() == "Map"
    }
    path_ok = function(p) {
      m = p.extract(re#^/ivr/action/([A-Za-z0-9_-]+)$#);
      p like re#^(/ivr|/ivr/menu|/ivr/menu/[0-9]|/ivr/hangup|https?://\S+)$#
        || (m.length() == 1 && is_action(m[0]))
    }
    // What is wrong with `value` in field `field` (null: nothing).
    value_problem = function(field, value) {
      action_fields.index(field) >= 0 =>
        (not text(value) => "must name an action"
          | (is_action(value) => null | "no section [action_" + value + "]"))
        | field like re#sample$# =>
        (text(value) => null | "must be a recording URL or text to say")
        | field == "hours" =>
        (text(value) && config{"hours_" + value}.typeof() == "Map" => null
          | "no section [hours_" + value.as("String") + "]")
        | ranges >< field =>
        (whole(value) && value.as("Number") >= ranges{[field, 0]}
          && value.as("Number") <= ranges{[field, 1]} => null
          | "must be a whole number from " + ranges{[field, 0]} + " to " + ranges{[field, 1]})
        | field == "phone_number" =>
        (text(value) && (value like phone || value like re#^sips?:\S+$#) => null
          | "must be a phone number such as +15551230000 (or a sip: address)")
        | field like re#^voicemail_alert_sms_# =>
        (text(value) && value like phone => null | "must be a phone number such as +15551230000")
        | field == "path" =>
        (text(value) && path_ok(value) => null
          | "must be /ivr, /ivr/menu, /ivr/menu/N, /ivr/action/NAME (an action), /ivr/hangup or an http(s) URL")
        | field == "voice" =>
        (text(value) && value like voice_re => null
          | "must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME")
        | field == "language" =>
        (text(value) && value like language_re => null | "must be a language tag such as en-US")
        | field == "timezone" =>
        (text(value) && time:zone(value) => null
          | "must be a time zone name such as Europe/London")
        | day_names.index(field) >= 0 =>
        (value.isnull() || value.typeof() == "String"
          && parse_day(value).none(function(r) { r.isnull() }) => null
          | "must be time ranges such as 0900-1730 or 0900-1200,1300-1730 (each within the day, ending after it starts), \"all\", or \"\" when closed")
        | field == "type" => null
        | (text(value) => null | "must be a non-empty string")
    }
    // The kind of a section: its fields' key in `fields`.
    kind_of = function(name, section) {
      fields >< name => name
        | (name like re#^ivr_menu_option_[0-9]$# => "option"
          | (name like re#^hours_[A-Za-z0-9_-]+$# => "hours"
            | (name like re#^action_[A-Za-z0-9_-]+$# =>
              (action_types.index(section{"type"}) >= 0 => section{"type"} | "action")
              | null)))
    }
    section_problems = function(name, section) {
      name == "aws" => [] // the original's keep-warm settings: not needed here
        | (section.typeof() != "Map" => ["[" + name + "]: must be a map of fields"]
          | fields_problems(name, section))
    }
    fields_problems = function(name, section) {
      kind = kind_of(name, section);
      spec = fields{kind}.defaultsTo({});
      at = "[" + name + "] ";
      missing = spec.keys()
        .filter(function(f) { spec{f} && not (section >< f) })
        .map(function(f) { at + f + ": missing (mandatory)" });
      closed = section >< "hours" && not (section >< "hours_action_on_closed")
        => [at + "hours_action_on_closed: missing (mandatory with hours)"] | [];
      given = section.keys().map(function(f) {
        problem = value_problem(f, section{f});
        not (spec >< f) => at + f + ": unknown field"
          | (problem.isnull() => null | at + f + ": " + problem)
      }).filter(function(p) { not p.isnull() });
      kind.isnull() => ["[" + name + "]: unknown section (sections: twilio, ivr, ivr_welcome, ivr_menu, ivr_menu_option_0 to 9, action_NAME, hours_NAME)"]
        | (kind == "action" =>
          [at + "type: " + (section{"type"}.isnull() => "missing (mandatory)"
              | "must be forward, hangup, redirect or voicemail")]
          | missing.append(closed).append(given))
    }
    problems = (config >< "ivr" => [] | ["[ivr] timezone: missing (mandatory)"])
      .append(config.keys().map(function(name) { section_problems(name, config{name}) })
        .reduce(function(all, p) { all.append(p) }, []))
    valid = config.typeof() == "Map" && problems.length() == 0
      || install:refuse(config.typeof() == "Map" => problems.join("; ")
        | "the configuration must be a map of sections")

    // ------------------------------------------------------------------
    // What to answer: a list of steps, each one TwiML verb.
    url = function(type, query) {
      "/sky/event/" + meta:eci + "/none/twilio/" + type + (query => "?" + query | "")
    }
    sample = function(s) {
      not s => [] | (s like re#^https?://# => [{"verb": "play", "url": s}] | [{"verb": "say", "text": s}])
    }
    redirect = function(to) { [{"verb": "redirect", "url": to}] }
    to_action = function(name) { redirect(url("ivr_action", "action=" + name)) }
    to_menu = function(loop) { redirect(url("ivr_menu", "loop=" + loop)) }
    // A section's hours first: closed → its hours_action_on_closed.
    closed = function(section) {
      section{"hours"} && not open_at(section{"hours"}, time:now())
    }
    guard = function(section, steps) {
      closed(section) => to_action(section{"hours_action_on_closed"}) | steps
    }
    path_url = function(p) {
      option = p.extract(re#^/ivr/menu/([0-9])$#);
      name = p.extract(re#^/ivr/action/(.+)$#);
      p like re#^https?://# => p
        | (p == "/ivr" => url("inbound_call", null)
          | (p == "/ivr/menu" => url("ivr_menu", "loop=1")
            | (p == "/ivr/hangup" => url("ivr_hangup", null)
              | (option.length() == 1 => url("ivr_option", "Digits=" + option[0])
                | url("ivr_action", "action=" + name[0])))))
    }

    welcome_steps = function() {
      w = config{"ivr_welcome"}.defaultsTo({});
      guard(w, sample(w{"play_sample"}).append(to_menu(1)))
    }
    menu_steps = function(loop) {
      m = config{"ivr_menu"}.defaultsTo({});
      max = m{"no_input_max_loops"};
      at_max = max && loop >= max.as("Number");
      on_max = m{"no_input_action_on_max_loops"};
      // Twilio's <Pause> is 1 s or more: a pause of 0 is none at all
      seconds = m{"pause"}.defaultsTo(2).as("Number");
      pause = seconds > 0 => [{"verb": "pause", "length": seconds}] | [];
      gather = [{"verb": "gather", "action": url("ivr_option", "loop=" + loop)}]
        .append(sample(m{"play_sample"}))
        .append(pause)
        .append([{"verb": "end_gather"}]);
      // reached when the caller pressed nothing
      no_input = at_max => (on_max => to_action(on_max) | [{"verb": "hangup"}])
        | sample(m{"no_input_sample"}).append(to_menu(loop + 1));
      guard(m, gather.append(no_input))
    }
    option_steps = function(digits, loop) {
      o = digits like re#^[0-9]$# => config{"ivr_menu_option_" + digits} | null;
      invalid = config{["ivr_menu", "invalid_option_sample"]}.defaultsTo("Invalid menu option selected.");
      o.isnull() => sample(invalid).append(to_menu(1))
        | guard(o, sample(o{"play_sample"}).append(to_action(o{"action"})))
    }
    action_steps = function(name) {
      a = is_action(name) => config{"action_" + name} | null;
      type = a{"type"};
      play = sample(a{"play_sample"});
      a.isnull() => [{"verb": "hangup"}]
        | guard(
          a,
          type == "hangup" => play.append([{"verb": "hangup"}])
            | (type == "redirect" => play.append(redirect(path_url(a{"path"})))
              | (type == "forward" => play.append([{
                "verb": "dial",
                "number": a{"phone_number"},
                "action": url("ivr_dialed", "action=" + name)
              }])
                | play.append([
                  {"verb": "pause", "length": 1},
                  {
                    "verb": "record",
                    "action": url("ivr_recorded", "action=" + name),
                    "timeout": a{"voicemail_timeout"},
                    "maxLength": a{"voicemail_max_length"}
                  }
                ])))
        )
    }
    // The Dial of a forward action ended: its fallback for the status.
    on_status = {
      "busy": "action_on_busy",
      "no-answer": "action_on_no_answer",
      "failed": "action_on_failed",
      "canceled": "action_on_canceled"
    }
    dialed_steps = function(name, status) {
      next = is_action(name) && on_status >< status => config{["action_" + name, on_status{status}]} | null;
      next => to_action(next) | [{"verb": "hangup"}]
    }
    recorded_steps = function(name) {
      a = is_action(name) => config{"action_" + name} | {};
      sample(a{"hangup_sample"}).append([{"verb": "hangup"}])
    }

    respond = function(type, attrs) {
      // a forged or missing loop counts as the first pass
      asked = attrs{"loop"}.as("Number");
      loop = asked.isnull() || asked < 1 => 1 | asked;
      type == "inbound_call" => welcome_steps()
        | (type == "ivr_menu" => menu_steps(loop)
          | (type == "ivr_option" => option_steps(attrs{"Digits"}.defaultsTo(""), loop)
            | (type == "ivr_action" => action_steps(attrs{"action"})
              | (type == "ivr_dialed" => dialed_steps(attrs{"action"}, attrs{"DialCallStatus"})
                | (type == "ivr_recorded" => recorded_steps(attrs{"action"})
                  | [{"verb": "hangup"}])))))
    }

    // The SMS alert of a voicemail: its exact text.
    alert_text = function(from, recording) {
      "New voicemail from " + from.defaultsTo("an unknown number") + ": " + recording
    }
  }

  // Every webhook of a call: answer with the steps, one verb each.
  rule answer {
    select when twilio inbound_call
      or twilio ivr_menu
      or twilio ivr_option
      or twilio ivr_action
      or twilio ivr_dialed
      or twilio ivr_recorded
      or twilio ivr_hangup
    foreach respond(event:name, event:attrs) setting(step)
    pre {
      verb = step{"verb"}
    }
    choose verb {
      say => twilio:say(step{"text"}, voice = voice, language = language);
      play => twilio:play(step{"url"});
      pause => twilio:pause(step{"length"});
      gather => twilio:gather_start(step{"action"}, numDigits = 1);
      end_gather => twilio:gather_stop();
      redirect => twilio:redirect(step{"url"});
      dial => twilio:dial(step{"number"}, action = step{"action"});
      record => twilio:record(
        step{"action"},
        timeout = step{"timeout"},
        maxLength = step{"maxLength"}
      );
      hangup => twilio:hangup();
    }
  }

  // A voicemail was recorded: text its link to the configured number.
  // The SMS goes out from an event of its own, scheduled now (stored with
  // this event's writes), so the caller hears the goodbye even if the
  // SMS cannot be queued (no Twilio credentials: the error is logged).
  rule voicemail_recorded {
    select when twilio ivr_recorded
    pre {
      name = event:attrs{"action"}
      a = is_action(name) => config{"action_" + name} | {}
      recording = event:attrs{"RecordingUrl"}
    }
    if a{"type"} == "voicemail" && recording then noop()
    fired {
      schedule ivr event "voicemail_alert" at time:now() attributes {
        "to": a{"voicemail_alert_sms_to"},
        "from": a{"voicemail_alert_sms_from"},
        "text": alert_text(event:attrs{"From"}, recording)
      }
    }
  }

  rule voicemail_alert {
    select when ivr voicemail_alert
    twilio:send_sms(event:attrs{"to"}, event:attrs{"from"}, event:attrs{"text"})
  }
}
