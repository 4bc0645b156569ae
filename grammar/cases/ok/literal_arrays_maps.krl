// Arrays and maps: empty ones, nesting, mixed values, trailing commas and
// a duplicate key (the last value wins).
ruleset io.example.cases.collections {
  global {
    no_items = []
    no_keys = {}
    mixed = [1, "two", [3], {"four": 4}, null, true, false]
    trailing_array = [1, 2, ]
    trailing_map = {"k": "v", }
    device = {
      "id": "thermo-1",
      "readings": [20.5, 21, 19.75],
      "location": {"room": "hall", "floor": 2}
    }
    dup = {"mode": "off", "mode": "on"}
  }
  rule show_collections {
    select when device describe
    send_directive("collections", {
      "empty": [no_items, no_keys],
      "mixed": mixed,
      "trailing": [trailing_array, trailing_map],
      "device": device,
      "dup": dup
    })
  }
}
