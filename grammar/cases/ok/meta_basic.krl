// The basic meta properties: name, description (a chevron), author,
// version, logging, shares and provides (also the singular spellings).
ruleset io.example.cases.meta_basic {
  meta {
    name "Thermostat"
    description <<
      Keeps a room between two temperatures.
    >>
    author "Pat"
    version "2.1.0"
    logging on
    shares setpoint, history
    share current
    provides setpoint
    provide history
  }
  global {
    setpoint = function() { ent:setpoint.defaultsTo(20) }
    history = function() { ent:history.defaultsTo([]) }
    current = function() { ent:current }
  }
  rule set_point {
    select when thermostat set
    fired {
      ent:setpoint := event:attrs{"value"}
    }
  }
}
