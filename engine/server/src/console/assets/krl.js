// KRL highlighting for the console's editor: a small tokenizer, no
// dependencies. `KRL.highlight(src, marks)` answers HTML; `marks` are
// diagnostics ({line, col, end_line, end_col, severity, message}) to
// underline.
"use strict";
(function () {
  const KEYWORDS = new Set((
    "ruleset meta global rule select when where pre fired notfired always finally else every " +
    "choose sample if then foreach setting function defaction return raise event attributes " +
    "for schedule at repeat send_directive shares provides use module alias with configure " +
    "using name description author version logging on off true false null not and or " +
    "before after then within between any count repeat clear last noop log error warn info " +
    "debug is active inactive const"
  ).split(/\s+/));
  const DOMAINS = /^(ent|app|event|meta|keys|time|math|random|http|mqtt|twilio|ctx|engine|wrangler|schedule|install|classic)$/;

  function esc(s) {
    return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  // [kind, text] tokens; kinds: com, str, re, num, kw, dom, plain.
  function tokens(src) {
    const out = [];
    let i = 0;
    const n = src.length;
    while (i < n) {
      const c = src[i];
      const rest = src.slice(i, i + 2);
      let j;
      if (rest === "//") {
        j = src.indexOf("\n", i);
        if (j < 0) j = n;
        out.push(["com", src.slice(i, j)]);
      } else if (rest === "/*") {
        j = src.indexOf("*/", i + 2);
        j = j < 0 ? n : j + 2;
        out.push(["com", src.slice(i, j)]);
      } else if (rest === "<<") {
        j = src.indexOf(">>", i + 2);
        j = j < 0 ? n : j + 2;
        out.push(["str", src.slice(i, j)]);
      } else if (c === '"') {
        j = i + 1;
        while (j < n && src[j] !== '"' && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
        j = Math.min(n, j + 1);
        out.push(["str", src.slice(i, j)]);
      } else if (src.startsWith("re#", i)) {
        j = src.indexOf("#", i + 3);
        j = j < 0 ? n : j + 1;
        while (j < n && /[gi]/.test(src[j])) j++;
        out.push(["re", src.slice(i, j)]);
      } else if (/[0-9]/.test(c)) {
        j = i;
        while (j < n && /[0-9.]/.test(src[j])) j++;
        out.push(["num", src.slice(i, j)]);
      } else if (/[A-Za-z_$]/.test(c)) {
        j = i;
        while (j < n && /[A-Za-z0-9_$]/.test(src[j])) j++;
        const w = src.slice(i, j);
        if (src[j] === ":" && src[j + 1] !== "=" && DOMAINS.test(w)) out.push(["dom", w]);
        else out.push([KEYWORDS.has(w) ? "kw" : "plain", w]);
      } else {
        j = i + 1;
        out.push(["plain", c]);
      }
      i = j;
    }
    return out;
  }

  // Offsets (in UTF-16 units) of each line start.
  function lineStarts(src) {
    const s = [0];
    for (let i = 0; i < src.length; i++) if (src[i] === "\n") s.push(i + 1);
    return s;
  }

  // A diagnostic's [start, end) in the source's UTF-16 offsets (columns
  // count characters, so astral characters take two units).
  function range(src, starts, d) {
    const at = (line, col) => {
      const base = starts[Math.max(0, Math.min(starts.length - 1, line - 1))];
      let k = base;
      for (let c = 1; c < col && k < src.length && src[k] !== "\n"; c++) {
        const code = src.charCodeAt(k);
        k += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
      }
      return k;
    };
    const a = at(d.line, d.col);
    let b = at(d.end_line || d.line, d.end_col || d.col);
    if (b <= a) b = Math.min(src.length, a + 1);
    return [a, b];
  }

  function highlight(src, marks) {
    const starts = lineStarts(src);
    const spans = (marks || []).map((d) => [...range(src, starts, d), d]);
    let html = "";
    let pos = 0;
    for (const [kind, text] of tokens(src)) {
      // Split tokens at diagnostic boundaries.
      let k = 0;
      while (k < text.length) {
        const here = pos + k;
        let stop = text.length;
        let mark = null;
        for (const [a, b, d] of spans) {
          if (a <= here && here < b) { mark = d; stop = Math.min(stop, b - pos); }
          else if (a > here && a - pos < stop) stop = a - pos;
        }
        const piece = esc(text.slice(k, stop));
        let cls = kind === "plain" ? "" : "k-" + kind;
        if (mark) cls += (cls ? " " : "") + (mark.severity === "error" ? "k-err" : "k-warn");
        html += cls ? `<span class="${cls}"${mark ? ` title="${esc(mark.line + ":" + mark.col + ": " + mark.message)}"` : ""}>${piece}</span>` : piece;
        k = stop;
      }
      pos += text.length;
    }
    return html + "\n";
  }

  window.KRL = { highlight, tokens };
})();
