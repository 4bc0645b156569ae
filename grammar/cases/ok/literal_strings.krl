// Double-quoted strings: the two real escapes (\" and \\), other backslash
// pairs kept as written, multi-line text, and the empty string.
ruleset io.example.cases.strings {
  global {
    quoted = "She said \"call me\""
    windows_path = "C:\\twilio\\logs"
    kept_backslash = "tab\there"
    empty = ""
    two_lines = "first line
second line"
    hash_alone = "# not a beesting"
  }
  rule show_strings {
    select when sms inbound
    send_directive("strings", {
      "quoted": quoted,
      "path": windows_path,
      "kept": kept_backslash,
      "empty": empty,
      "lines": two_lines,
      "hash": hash_alone
    })
  }
}
