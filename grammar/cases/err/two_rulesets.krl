// A file holds exactly one ruleset.
ruleset io.example.err.first {
}
ruleset io.example.err.second {
}
