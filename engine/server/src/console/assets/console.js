// The krl console: pages by URL hash, everything through the admin API
// (the krl_admin cookie) and the Sky routes. No framework, no build step.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const state = { info: null, tree: null, picos: [], rulesets: [], selected: null, trace: [], dropped: 0 };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const pretty = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

  // ------------------------------------------------------------ HTTP
  async function api(method, path, body, raw) {
    const opts = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      if (raw) { opts.body = body; opts.headers["content-type"] = "text/plain; charset=utf-8"; }
      else { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
    }
    const res = await fetch("/api" + path, opts);
    if (res.status === 401) {
      location.href = "/login?next=" + encodeURIComponent("/ui/" + location.hash);
      throw new Error("not logged in");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!res.ok) {
      const e = new Error(errorText(res.status, data));
      e.data = data; e.status = res.status;
      throw e;
    }
    return data;
  }
  function errorText(status, data) {
    if (data && typeof data === "object" && data.error) {
      const at = data.line ? `${data.line}:${data.col}: ` : "";
      const where = data.rid ? ` (${data.rid}${data.rule ? " rule " + data.rule : ""})` : "";
      return `${status}: ${at}${data.error}${where}`;
    }
    return `${status}: ${typeof data === "string" ? data : JSON.stringify(data)}`;
  }
  function show(node, text, ok) {
    node.textContent = text;
    node.classList.toggle("error", ok === false);
    node.classList.toggle("ok", ok === true);
  }

  // ------------------------------------------------------------ data
  async function loadTree() {
    state.tree = await api("GET", "/picos");
    state.picos = [];
    (function walk(n, depth) {
      state.picos.push({ ...n, depth });
      n.children.forEach((c) => walk(c, depth + 1));
    })(state.tree, 0);
    renderTree();
    fillPicoSelects();
  }
  async function loadRulesets() {
    state.rulesets = await api("GET", "/rulesets");
    renderRulesetList();
  }
  function fillPicoSelects() {
    const parent = $("#new-pico-parent");
    const keep = parent.value;
    parent.replaceChildren(...state.picos.map((p) => el("option", { value: p.id }, "  ".repeat(p.depth) + p.name)));
    if (keep) parent.value = keep;
    for (const sel of $$(".eci-select")) {
      const was = sel.value;
      sel.replaceChildren(...state.picos.flatMap((p) =>
        p.channels.map((eci, i) => el("option", { value: eci, "data-pico": p.id }, `${p.name} — ${eci}${i ? "" : " (first)"}`))));
      if (was && $$("option", sel).some((o) => o.value === was)) sel.value = was;
    }
    const tp = $("#trace-pico");
    const tv = tp.value;
    tp.replaceChildren(el("option", { value: "" }, "all"), ...state.picos.map((p) => el("option", { value: p.id }, p.name)));
    tp.value = tv;
    fillQueryRids();
  }

  // ------------------------------------------------------------ picos
  function renderTree() {
    const ul = $("#pico-tree");
    const item = (n) => el("li", { class: "pico-node", "data-id": n.id },
      el("button", { type: "button", "aria-pressed": String(state.selected === n.id), onclick: () => selectPico(n.id) },
        n.name, " ", el("small", {}, n.id)),
      n.children.length ? el("ul", {}, n.children.map(item)) : null);
    ul.replaceChildren(item(state.tree));
  }

  async function selectPico(id) {
    state.selected = id;
    renderTree();
    const box = $("#pico-detail");
    let p;
    try { p = await api("GET", `/console/picos/${encodeURIComponent(id)}`); }
    catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const isRoot = id === state.info.root_pico;
    const result = el("p", { class: "result", id: "pico-result", "aria-live": "polite" });
    const nameInput = el("input", { id: "rename-name", value: p.name, "aria-label": "name" });
    const configBox = el("textarea", { id: "install-config", rows: 3, "aria-label": "config (JSON)" }, "{}");
    const ridSel = el("select", { id: "install-rid", "aria-label": "ruleset" },
      state.rulesets.map((r) => el("option", { value: r.rid }, r.rid)));
    box.replaceChildren(
      el("h2", {}, p.name, " ", el("small", { class: "muted" }, p.id)),
      el("div", { class: "buttons" },
        nameInput,
        el("button", { type: "button", id: "rename", onclick: async () => {
          try { await api("POST", `/console/picos/${id}/name`, { name: nameInput.value }); show(result, "renamed", true); await loadTree(); selectPico(id); }
          catch (e) { show(result, e.message, false); }
        } }, "Rename"),
        isRoot ? null : el("button", { type: "button", class: "danger", id: "delete-pico", onclick: async () => {
          if (!confirm(`Delete pico ${p.name} and its children?`)) return;
          try { await api("DELETE", `/picos/${id}`); state.selected = null; box.replaceChildren(el("p", { class: "muted" }, `deleted ${p.name}`)); await loadTree(); }
          catch (e) { show(result, e.message, false); }
        } }, "Delete")),
      result,
      el("dl", { class: "kv" },
        el("dt", {}, "parent"), el("dd", {}, p.parent || "—"),
        el("dt", {}, "children"), el("dd", {}, p.children.map((c) => c.name).join(", ") || "—")),
      el("h3", {}, "Rulesets"),
      p.rulesets.length ? el("table", { id: "pico-rulesets" },
        el("tr", {}, el("th", {}, "rid"), el("th", {}, "config"), el("th", {}, "")),
        p.rulesets.map((r) => el("tr", {}, el("td", {}, r.rid), el("td", {}, el("pre", {}, pretty(r.config))),
          el("td", {}, el("button", { type: "button", class: "secondary", onclick: async () => {
            try { await api("DELETE", `/picos/${id}/rulesets/${encodeURIComponent(r.rid)}`); await loadTree(); selectPico(id); }
            catch (e) { show(result, e.message, false); }
          } }, "Uninstall"))))) : el("p", { class: "muted" }, "none installed"),
      el("form", { class: "card", id: "install-form", onsubmit: async (ev) => {
        ev.preventDefault();
        const out = $("#install-result");
        let config;
        try { config = JSON.parse(configBox.value || "{}"); } catch (e) { show(out, "config: " + e.message, false); return; }
        try { await api("POST", `/picos/${id}/rulesets`, { rid: ridSel.value, config }); await loadTree(); await selectPico(id); show($("#install-result"), `installed ${ridSel.value}`, true); }
        catch (e) { show(out, e.message, false); }
      } },
        el("h3", {}, "Install a ruleset"),
        el("label", {}, "Ruleset ", ridSel),
        el("label", {}, "Configuration (JSON) ", configBox),
        el("button", { type: "submit", id: "install" }, "Install"),
        el("p", { class: "result", id: "install-result", "aria-live": "polite" })),
      el("h3", {}, "Channels"),
      el("table", { id: "pico-channels" },
        el("tr", {}, el("th", {}, "eci"), el("th", {}, "tags"), el("th", {}, "policy"), el("th", {}, "Twilio token")),
        p.channels.map((c) => el("tr", {}, el("td", {}, el("code", {}, c.eci)), el("td", {}, c.tags.join(", ")),
          el("td", {}, el("pre", {}, c.policy ? pretty(c.policy) : "allows all")), el("td", {}, c.twilio_auth_token ? "yes" : "no")))),
      el("h3", {}, "Entity variables"),
      Object.keys(p.vars).length ? el("table", { id: "pico-vars" },
        el("tr", {}, el("th", {}, "rid"), el("th", {}, "name"), el("th", {}, "value")),
        Object.entries(p.vars).flatMap(([rid, vars]) => Object.entries(vars).map(([k, v]) =>
          el("tr", {}, el("td", {}, rid), el("td", {}, k), el("td", {}, el("pre", {}, pretty(v))))))) : el("p", { class: "muted" }, "none"),
      el("h3", {}, "Call sessions"),
      p.sessions.length ? el("table", {},
        el("tr", {}, el("th", {}, "CallSid"), el("th", {}, "expires"), el("th", {}, "variables")),
        p.sessions.map((s) => el("tr", {}, el("td", {}, s.call_sid), el("td", {}, new Date(s.expires_ms).toLocaleString() + (s.expired ? " (expired)" : "")),
          el("td", {}, el("pre", {}, pretty(s.vars)))))) : el("p", { class: "muted" }, "none"),
      el("h3", {}, "MQTT subscriptions"),
      p.mqtt.length ? el("ul", {}, p.mqtt.map((m) => el("li", {}, `${m.filter} (qos ${m.qos})`))) : el("p", { class: "muted" }, "none"),
      el("form", { class: "buttons", onsubmit: async (ev) => {
        ev.preventDefault();
        const f = $("#mqtt-filter").value;
        try { await api("POST", `/picos/${id}/mqtt`, { filter: f }); selectPico(id); }
        catch (e) { show(result, e.message, false); }
      } }, el("input", { id: "mqtt-filter", placeholder: "sensors/+/temp", "aria-label": "topic filter" }), el("button", { type: "submit" }, "Subscribe")),
    );
  }

  $("#new-pico-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#new-pico-result");
    try {
      const r = await api("POST", "/picos", { name: $("#new-pico-name").value, parent: $("#new-pico-parent").value || undefined });
      show(out, `made ${r.id} (eci ${r.eci})`, true);
      $("#new-pico-name").value = "";
      await loadTree();
      selectPico(r.id);
    } catch (e) { show(out, e.message, false); }
  });

  // ------------------------------------------------------------ rulesets
  const editor = $("#editor");
  const hl = $("#editor-hl");
  let marks = [];
  let checkTimer = null;
  let checkSeq = 0;
  const TEMPLATE = `ruleset io.example.hello {
  meta {
    shares hello
  }
  global {
    hello = function(name) { "Hello " + name }
  }
  rule hi {
    select when echo hello
    send_directive("say", {"something": "Hello " + event:attrs{"name"}})
  }
}
`;

  function renderRulesetList() {
    $("#ruleset-list").replaceChildren(...state.rulesets.map((r) => el("li", {},
      el("button", { type: "button", "data-rid": r.rid, onclick: () => openRuleset(r.rid) },
        r.rid, " ", el("small", { class: "muted" }, r.version || ""), r.broken ? el("span", { class: "error" }, " broken") : null))));
  }
  async function openRuleset(rid) {
    try {
      const r = await api("GET", `/rulesets/${encodeURIComponent(rid)}`);
      $("#editor-title").textContent = rid;
      setSource(r.source || "");
      show($("#register-result"), r.broken ? "stored source no longer compiles: " + r.broken : "", r.broken ? false : undefined);
    } catch (e) { show($("#register-result"), e.message, false); }
  }
  function setSource(src) {
    editor.value = src;
    paint();
    scheduleCheck();
  }
  function paint() {
    hl.innerHTML = KRL.highlight(editor.value, marks);
    hl.scrollTop = editor.scrollTop;
    hl.scrollLeft = editor.scrollLeft;
  }
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 250);
  }
  async function check() {
    const seq = ++checkSeq;
    const src = editor.value;
    $("#check-status").textContent = "checking…";
    let r;
    try { r = await api("POST", "/check", src, true); } catch (e) { $("#check-status").textContent = e.message; return; }
    if (seq !== checkSeq) return;
    marks = r.diagnostics;
    paint();
    $("#check-status").textContent = r.errors ? `${r.errors} error(s)` : `OK${r.rid ? " — " + r.rid : ""}`;
    $("#diagnostics").replaceChildren(...r.diagnostics.map((d) => el("li", {
      class: d.severity, tabindex: "0", "data-line": d.line,
      onclick: () => jump(d), onkeydown: (ev) => { if (ev.key === "Enter") jump(d); },
    }, `${d.line}:${d.col}: ${d.severity}: ${d.message}`)));
  }
  function jump(d) {
    const lines = editor.value.split("\n");
    let off = 0;
    for (let i = 0; i < d.line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    off += d.col - 1;
    editor.focus();
    editor.setSelectionRange(off, off + 1);
  }
  editor.addEventListener("input", () => { paint(); scheduleCheck(); });
  editor.addEventListener("scroll", () => { hl.scrollTop = editor.scrollTop; hl.scrollLeft = editor.scrollLeft; });
  editor.addEventListener("keydown", (ev) => {
    if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey) {
      // Two spaces; Escape then Tab leaves the editor.
      if (editor.dataset.escaped) { delete editor.dataset.escaped; return; }
      ev.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
      paint(); scheduleCheck();
    } else if (ev.key === "Escape") {
      editor.dataset.escaped = "1";
    } else if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
      ev.preventDefault();
      register();
    }
  });
  $("#new-ruleset").addEventListener("click", () => { $("#editor-title").textContent = "New ruleset"; setSource(TEMPLATE); editor.focus(); });
  async function register() {
    const out = $("#register-result");
    try {
      const r = await api("POST", "/rulesets", editor.value, true);
      show(out, `registered ${r.rid} ${r.version}`, true);
      $("#editor-title").textContent = r.rid;
      await loadRulesets();
    } catch (e) { show(out, e.message, false); }
  }
  $("#register").addEventListener("click", register);

  // ------------------------------------------------------------ testing
  function picoOfEci(eci) {
    return state.picos.find((p) => p.channels.includes(eci));
  }
  function fillQueryRids() {
    const p = picoOfEci($("#test-eci").value);
    const sel = $("#query-rid");
    const was = sel.value;
    sel.replaceChildren(...(p ? p.rulesets : []).map((r) => el("option", { value: r }, r)));
    if (was) sel.value = was;
  }
  async function testingForms() {
    const eci = $("#test-eci").value;
    const box = $("#testing-forms");
    box.replaceChildren();
    const p = picoOfEci(eci);
    if (!p) return;
    for (const rid of p.rulesets) {
      let t;
      try {
        const res = await fetch(`/sky/cloud/${encodeURIComponent(eci)}/${encodeURIComponent(rid)}/__testing`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        if (!res.ok) continue;
        t = await res.json();
      } catch (_) { continue; }
      const card = el("div", { class: "card" }, el("h3", {}, `${rid}: __testing`));
      for (const q of t.queries || []) {
        const args = (q.args || []).map((a) => el("input", { placeholder: a, "data-arg": a, "aria-label": a }));
        card.append(el("form", { class: "buttons", onsubmit: async (ev) => {
          ev.preventDefault();
          const body = {}; args.forEach((i) => { body[i.dataset.arg] = i.value; });
          await runQuery(eci, rid, q.name, body);
        } }, el("button", { type: "submit" }, `query ${q.name}`), args));
      }
      for (const e of t.events || []) {
        const attrs = (e.attrs || []).map((a) => el("input", { placeholder: a, "data-arg": a, "aria-label": a }));
        card.append(el("form", { class: "buttons", onsubmit: async (ev) => {
          ev.preventDefault();
          const body = {}; attrs.forEach((i) => { body[i.dataset.arg] = i.value; });
          await sendEvent(eci, e.domain, e.type || e.name, body);
        } }, el("button", { type: "submit" }, `event ${e.domain}:${e.type || e.name}`), attrs));
      }
      box.append(card);
    }
  }
  $("#test-eci").addEventListener("change", () => { fillQueryRids(); testingForms(); });

  async function sendEvent(eci, domain, type, attrs) {
    const out = $("#event-result");
    out.textContent = "…";
    const res = await fetch(`/sky/event/${encodeURIComponent(eci)}/none/${encodeURIComponent(domain)}/${encodeURIComponent(type)}`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(attrs) });
    const text = await res.text();
    let shown = text;
    const ct = res.headers.get("content-type") || "";
    if (ct.includes("json")) {
      try { const v = JSON.parse(text); shown = res.ok ? pretty(v) : errorText(res.status, v); } catch (_) { /* as is */ }
    }
    out.textContent = `${res.status}${ct.includes("xml") ? " (TwiML)" : ""}\n${shown}`;
    out.classList.toggle("error", !res.ok);
  }
  async function runQuery(eci, rid, name, args) {
    const out = $("#query-result");
    out.textContent = "…";
    const res = await fetch(`/sky/cloud/${encodeURIComponent(eci)}/${encodeURIComponent(rid)}/${encodeURIComponent(name)}`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(args) });
    const text = await res.text();
    let shown = text;
    try { const v = JSON.parse(text); shown = res.ok ? pretty(v) : errorText(res.status, v); } catch (_) { /* text */ }
    out.textContent = `${res.status}\n${shown}`;
    out.classList.toggle("error", !res.ok);
  }
  $("#event-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let attrs;
    try { attrs = JSON.parse($("#event-attrs").value || "{}"); } catch (e) { $("#event-result").textContent = "attributes: " + e.message; return; }
    await sendEvent($("#test-eci").value, $("#event-domain").value, $("#event-type").value, attrs);
  });
  $("#query-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let args;
    try { args = JSON.parse($("#query-args").value || "{}"); } catch (e) { $("#query-result").textContent = "arguments: " + e.message; return; }
    await runQuery($("#test-eci").value, $("#query-rid").value, $("#query-name").value, args);
  });

  // ------------------------------------------------------------ phone
  const transcript = $("#transcript");
  const phone = new Phone({
    log(kind, text) {
      const ms = Math.round(performance.now() - (phone.t0 || performance.now()));
      transcript.append(el("li", { class: kind }, `[${String(ms).padStart(6)} ms] ${text}`));
      transcript.scrollTop = transcript.scrollHeight;
    },
    twiml(text) { $("#twiml").textContent = text; },
    state(text) {
      $("#phone-state").textContent = text;
      $("#hangup").disabled = text === "idle";
    },
    listening(on) { $("#keypad").classList.toggle("listening", on); if (on) $("#phone-state").textContent = "listening (keypad or speech)"; },
    speak(text, voice, lang) {
      if (!$("#phone-speak").checked || !window.speechSynthesis) return;
      try {
        const u = new SpeechSynthesisUtterance(text);
        if (lang) u.lang = lang;
        speechSynthesis.speak(u);
      } catch (_) { /* no voices */ }
    },
    dialStatus() { return $("#dial-status").value; },
    publicUrl() { return state.info.public_url; },
    async sign(eci, url, params) {
      const r = await api("POST", "/console/sign", { eci, url, params });
      return r.signature;
    },
  });
  $("#call").addEventListener("click", () => {
    transcript.replaceChildren();
    phone.call($("#phone-eci").value, $("#phone-from").value, $("#phone-to").value);
  });
  $("#hangup").addEventListener("click", () => phone.hangup(false));
  $$(".key").forEach((b) => b.addEventListener("click", () => phone.press(b.dataset.key)));
  $("#no-input").addEventListener("click", () => phone.timeout());
  $("#say").addEventListener("click", () => { phone.speak($("#speech").value); $("#speech").value = ""; });
  document.addEventListener("keydown", (ev) => {
    if (location.hash !== "#phone" || !phone.pending) return;
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement) return;
    if (/^[0-9*#]$/.test(ev.key)) { ev.preventDefault(); phone.press(ev.key); }
  });
  $("#sms-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const list = $("#sms-replies");
    const body = $("#sms-body").value;
    list.append(el("li", {}, `you: ${body}`));
    try {
      const replies = await phone.sms($("#phone-eci").value, $("#phone-from").value, $("#phone-to").value, body);
      if (!replies.length) list.append(el("li", { class: "muted" }, "(no reply)"));
      replies.forEach((r) => list.append(el("li", {}, `reply: ${r}`)));
    } catch (e) { list.append(el("li", { class: "error" }, e.message)); }
  });

  // ------------------------------------------------------------ outbox, MQTT
  async function loadOutbox() {
    const st = $("#outbox-state").value;
    const rows = await api("GET", "/outbox" + (st ? "?state=" + st : ""));
    const cols = ["id", "state", "action", "pico", "rid", "attempts", "http_status", "error_code", "error_message", "sid", "next_attempt_ms"];
    $("#outbox-table").replaceChildren(
      el("tr", {}, cols.map((c) => el("th", {}, c.replace(/_/g, " ")))),
      ...(rows.length ? rows.map((r) => el("tr", {}, cols.map((c) => el("td", {},
        c === "next_attempt_ms" && r[c] ? new Date(r[c]).toLocaleString() : r[c] === null || r[c] === undefined ? "" : pretty(r[c])))))
        : [el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "no messages"))]));
  }
  $("#outbox-refresh").addEventListener("click", loadOutbox);
  $("#outbox-state").addEventListener("change", loadOutbox);
  async function loadMqtt() {
    $("#mqtt-state").textContent = state.info.mqtt ? "MQTT is on. Recent messages, newest first:" : "MQTT is off (krl serve --no-mqtt).";
    const rows = (await api("GET", "/console/mqtt")).reverse();
    $("#mqtt-table").replaceChildren(
      el("tr", {}, ["when", "direction", "topic", "payload", "pico", "qos"].map((c) => el("th", {}, c))),
      ...(rows.length ? rows.map((e) => el("tr", {},
        el("td", {}, new Date(e.at_ms).toLocaleTimeString()), el("td", {}, e.kind === "mqtt_in" ? "in" : "out"),
        el("td", {}, e.data.topic), el("td", {}, el("pre", {}, e.data.payload)), el("td", {}, e.pico || ""), el("td", {}, e.data.qos)))
        : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no messages yet"))]));
  }
  $("#mqtt-refresh").addEventListener("click", loadMqtt);

  // ------------------------------------------------------------ trace
  let source = null;
  let paused = false;
  function describe(e) {
    const d = e.data || {};
    switch (e.kind) {
      case "event": {
        const dirs = (d.directives || []).map((x) => x.name + (x.options && Object.keys(x.options).length ? " " + JSON.stringify(x.options) : ""));
        return `event ${d.domain}:${d.name} on ${d.eci} attrs ${JSON.stringify(d.attrs)}\n  directives: ${dirs.length ? dirs.join("; ") : "none"}`;
      }
      case "error":
        return `error in event ${d.domain}:${d.name}: ${d.rid}${d.rule ? " rule " + d.rule : ""}${d.line ? ` at ${d.line}:${d.col}` : ""}: ${d.message}`;
      case "sent": return `sent event ${d.domain}:${d.name} to ${d.eci}`;
      case "rule_selected": return `rule ${d.rid} ${d.rule} selected`;
      case "raised": return `raised ${d.domain}:${d.name}${d.for_rid ? " for " + d.for_rid : ""} attrs ${JSON.stringify(d.attrs)}`;
      case "ent_write": return `ent:${d.name}${d.path === undefined ? "" : "{" + JSON.stringify(d.path) + "}"} of ${d.rid} := ${JSON.stringify(d.value)}`;
      case "schedule_add": return `scheduled by ${d.rid}: ${JSON.stringify(d.entry)}`;
      case "rule_fired": return `rule ${d.rid} ${d.rule} ${d.fired ? "fired" : "did not fire (its action condition was false)"}`;
      case "outbox": return `outbox ${d.action} ${d.state}${d.error_message ? ": " + d.error_message : ""}${d.error_code ? " (code " + d.error_code + ")" : ""}`;
      case "mqtt_in": return `mqtt in ${d.topic}: ${d.payload}`;
      case "mqtt_out": return `mqtt out ${d.topic}: ${d.payload}`;
      default: return `${e.kind} ${JSON.stringify(d)}`;
    }
  }
  function renderTraceEntry(e) {
    const picoName = (state.picos.find((p) => p.id === e.pico) || {}).name || e.pico || "";
    return el("li", { class: e.kind, "data-kind": e.kind },
      el("span", { class: "when" }, `${new Date(e.at_ms).toLocaleTimeString()} #${e.seq} ${picoName}  `), describe(e));
  }
  function connectTrace() {
    if (source) source.close();
    const pico = $("#trace-pico").value;
    source = new EventSource("/api/trace" + (pico ? "?pico=" + encodeURIComponent(pico) : ""));
    source.addEventListener("open", () => { $("#trace-status").textContent = "connected"; });
    source.addEventListener("error", () => { $("#trace-status").textContent = "reconnecting…"; });
    source.addEventListener("trace", (m) => {
      const e = JSON.parse(m.data);
      state.dropped += e.dropped || 0;
      $("#trace-dropped").textContent = `dropped: ${state.dropped}`;
      state.trace.push(e);
      if (state.trace.length > 500) state.trace.shift();
      if (!paused) {
        const list = $("#trace-list");
        list.prepend(renderTraceEntry(e));
        while (list.children.length > 500) list.lastChild.remove();
      }
      if (location.hash !== "#trace") {
        const c = $("#trace-count");
        c.textContent = String((parseInt(c.textContent || "0", 10) || 0) + 1);
      }
    });
  }
  $("#trace-pico").addEventListener("change", () => { $("#trace-list").replaceChildren(); connectTrace(); });
  $("#trace-pause").addEventListener("click", () => {
    paused = !paused;
    $("#trace-pause").textContent = paused ? "Resume" : "Pause";
    if (!paused) $("#trace-list").replaceChildren(...state.trace.slice().reverse().map(renderTraceEntry));
  });
  $("#trace-clear").addEventListener("click", () => { state.trace = []; $("#trace-list").replaceChildren(); });

  // ------------------------------------------------------------ pages
  async function route() {
    const page = (location.hash || "#picos").slice(1).split("/")[0] || "picos";
    $$(".page").forEach((s) => { s.hidden = s.id !== "page-" + page; });
    $$("header nav a").forEach((a) => a.toggleAttribute("aria-current", a.dataset.page === page));
    $$("header nav a").forEach((a) => { if (a.dataset.page === page) a.setAttribute("aria-current", "page"); });
    try {
      if (page === "picos") { await loadTree(); await loadRulesets(); if (state.selected) selectPico(state.selected); }
      if (page === "rulesets") { await loadRulesets(); if (!editor.value) setSource(TEMPLATE); }
      if (page === "testing" || page === "phone") { await loadTree(); if (page === "testing") { fillQueryRids(); testingForms(); } }
      if (page === "outbox") await loadOutbox();
      if (page === "mqtt") await loadMqtt();
      if (page === "trace") $("#trace-count").textContent = "";
    } catch (e) { console.error(e); }
  }
  window.addEventListener("hashchange", route);

  (async function start() {
    state.info = await api("GET", "/console/info");
    $("#engine-info").textContent = `v${state.info.version}`;
    await loadTree();
    await loadRulesets();
    connectTrace();
    route();
  })();
})();
