// The smallest ruleset: a header and nothing else. RIDs may contain
// keywords, `-`, digits and `$`.
ruleset function.not.ent-app.k3ys.$x {
}
