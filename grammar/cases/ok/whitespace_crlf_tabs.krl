// Whitespace: CRLF line endings, tabs, a no-break space (U+00A0) and an
// ideographic space (U+3000) between tokens (krl-language.md 1.1).
ruleset io.example.cases.whitespace {
	global {
		greeting = "hello"
		prompt = <<line one
line two>>
		total　=　1 +
			2
	}
	rule greet {
		select when	echo	hello
		send_directive("say", {"something": greeting, "prompt": prompt, "total": total})
	}
}
