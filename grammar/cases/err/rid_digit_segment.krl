// A ruleset id segment cannot start with a digit.
ruleset io.example.2fa {
}
