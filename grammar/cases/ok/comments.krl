// Line comments and /* block */ comments anywhere whitespace may go;
// comment markers inside strings, chevrons and regexes are text.
ruleset io.example.cases.comments { // after the opening brace
  /* before meta */
  meta {
    name "Comments" // trailing
  }
  global {
    /* a block
       comment across lines */
    x = 1 /* inside an expression */ + 2
    url = "https://example.com/path" // the // in the string is not a comment
    text = <<keep /* this */ and // this>>
    pattern = re#a//b#
    odd = /* * / */ 3
  }
  rule commented { // a rule
    // select comes next
    select when /* domain */ device /* type */ ping
    send_directive("comments", {"x": x, "url": url, "text": text, "p": pattern, "odd": odd}) // done
  }
  /**/
}
