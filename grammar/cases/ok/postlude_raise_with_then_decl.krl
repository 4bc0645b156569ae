// Classic `raise ... with a = e and b = e` followed by a postlude
// declaration on the next line: the declaration is a statement of its
// own, not a third attribute (classic `with` lists are joined by `and`).
ruleset a18x9 {
  rule ping_and_note {
    select when device ping
    fired {
      raise notice event "ping" with id = event:attrs{"id"} and source = "device"
      note = "pinged " + event:attrs{"id"}
      ent:last_note := note
    }
  }
}
