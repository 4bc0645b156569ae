// A `;` with no declaration before it.
ruleset io.example.err.global_semicolon {
  global {
    limit = 10;
    ;
    phone = "+15550100"
  }
}
