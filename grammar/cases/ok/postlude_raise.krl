// `raise`: static domain with an expression type, `for RID`, `attributes`,
// the dynamic `raise event "d:t"` form, and classic `with` attributes.
ruleset io.example.cases.raise {
  rule ship {
    select when order ship
    pre {
      id = event:attrs{"id"}
      kind = "shipped"
    }
    always {
      raise order event "shipped" attributes {"id": id};
      raise order event kind;
      raise event "order:audit";
      raise event "order" + ":" + kind attributes event:attrs;
      raise order event "audit" for "io.example.audit"
        attributes event:attrs;
      raise order event "audit" for ["io.example.audit", "io.example.log"];
      raise notice event "shipped" with id = id and when = time:now();
      raise notice event "ping" with id = id
    }
  }
}
