// The console's phone: places a call to a channel as `krl call` does
// (Twilio's webhooks, signed when the channel wants it), plays each
// TwiML answer (<Say> through the browser's speech synthesis), takes
// <Gather> input from the keypad or a typed phrase, posts the callbacks
// (Gather, Redirect, Dial with the chosen outcome, Record) and keeps a
// transcript. And an SMS pane likewise.
"use strict";
(function () {
  function hex(n) {
    const a = new Uint8Array(n / 2);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  class Phone {
    // ui: {log(kind, text), twiml(text), state(text), listening(bool),
    //      speak(text, voice), dialStatus(), publicUrl(), sign(eci, url, params)}
    constructor(ui) {
      this.ui = ui;
      this.active = false;
      this.pending = null; // the Gather waiting for input
      this.t0 = 0;
    }

    // Public URL -> the one this page can reach (same origin).
    local(url) {
      const pub = this.ui.publicUrl().replace(/\/$/, "");
      if (url.startsWith(pub + "/")) return url.slice(pub.length);
      return url;
    }

    async call(eci, from, to) {
      this.hangup(true);
      this.active = true;
      this.eci = eci;
      this.t0 = performance.now();
      this.base = {
        AccountSid: "AC" + hex(32), ApiVersion: "2010-04-01", CallSid: "CA" + hex(32),
        From: from, To: to, Caller: from, Called: to, Direction: "inbound",
      };
      this.ui.state("ringing");
      const url = this.ui.publicUrl().replace(/\/$/, "") + `/sky/event/${encodeURIComponent(eci)}/none/twilio/inbound_call`;
      let next = { url, params: { ...this.base, CallStatus: "ringing" } };
      let turns = 0;
      try {
        while (next && this.active) {
          if (++turns > 100) throw new Error("more than 100 requests: a Redirect loop?");
          const doc = await this.request(next.url, next.params);
          if (!this.active) break;
          next = await this.play(doc, next.url);
        }
      } catch (e) {
        this.ui.log("err", String(e.message || e));
      }
      if (this.active) this.ui.log("end", "call ended");
      this.hangup(true);
    }

    hangup(quiet) {
      if (this.pending) { this.pending.resolve(null); this.pending = null; }
      if (this.active && !quiet) this.ui.log("end", "you hung up");
      this.active = false;
      this.ui.listening(false);
      this.ui.state("idle");
      if (window.speechSynthesis) speechSynthesis.cancel();
    }

    // POSTs a webhook as Twilio does; answers the parsed TwiML document.
    async request(url, params) {
      const pairs = Object.entries(params).map(([k, v]) => [k, String(v)]);
      const headers = { "content-type": "application/x-www-form-urlencoded" };
      const sig = await this.ui.sign(this.eci, url, pairs);
      if (sig) headers["X-Twilio-Signature"] = sig;
      const t = performance.now();
      const res = await fetch(this.local(url), {
        method: "POST", headers, body: new URLSearchParams(pairs).toString(), credentials: "same-origin",
      });
      const text = await res.text();
      this.ui.log("req", `-> POST ${url}: ${res.status} (${Math.round(performance.now() - t)} ms)`);
      if (!res.ok) {
        const why = res.headers.get("x-krl-error") || text.slice(0, 200);
        throw new Error(`${res.status}: ${why}`);
      }
      this.ui.twiml(text);
      if (this.active) this.ui.state("in call");
      const doc = new DOMParser().parseFromString(text, "text/xml");
      if (doc.getElementsByTagName("parsererror").length) throw new Error("the answer is not XML");
      if (doc.documentElement.nodeName !== "Response") throw new Error(`the answer's root is <${doc.documentElement.nodeName}>`);
      return doc;
    }

    abs(target, docUrl) {
      return target ? new URL(target, docUrl).toString() : docUrl;
    }

    params(extra) {
      return { ...this.base, CallStatus: "in-progress", ...extra };
    }

    // Plays one document; answers the next request ({url, params}) or null.
    async play(doc, url) {
      for (const verb of Array.from(doc.documentElement.children)) {
        if (!this.active) return null;
        const name = verb.nodeName;
        const text = verb.textContent.trim();
        switch (name) {
          case "Say":
            this.say(verb);
            break;
          case "Play":
            this.ui.log("verb", `play: ${text}`);
            break;
          case "Pause":
            this.ui.log("verb", `pause: ${verb.getAttribute("length") || 1}`);
            break;
          case "Sms": case "Message":
            this.ui.log("verb", `sms: ${text}`);
            break;
          case "Gather": {
            const next = await this.gather(verb, url);
            if (next) return next;
            break;
          }
          case "Redirect":
            this.ui.log("verb", `redirect: ${text}`);
            return { url: this.abs(text, url), params: this.params({}) };
          case "Dial": {
            const number = verb.textContent.trim();
            this.ui.log("verb", `dial: ${number}`);
            const action = verb.getAttribute("action");
            if (action) {
              const status = this.ui.dialStatus();
              this.ui.log("input", `dial outcome: ${status}`);
              return {
                url: this.abs(action, url),
                params: this.params({ DialCallStatus: status, DialCallSid: "CA" + hex(32), DialCallDuration: "3" }),
              };
            }
            break;
          }
          case "Record": {
            this.ui.log("verb", "record");
            const action = verb.getAttribute("action");
            if (action) {
              return {
                url: this.abs(action, url),
                params: this.params({ RecordingUrl: "https://api.twilio.com/recording/RE" + hex(32), RecordingDuration: "3", RecordingSid: "RE" + hex(32) }),
              };
            }
            break;
          }
          case "Hangup": case "Reject":
            this.ui.log("verb", name.toLowerCase());
            this.active = false;
            this.ui.log("end", "call ended");
            return null;
          default:
            this.ui.log("verb", `${name.toLowerCase()}: ${text}`);
        }
      }
      return null;
    }

    say(verb) {
      const text = verb.textContent.trim();
      this.ui.log("say", `say: ${text}`);
      this.ui.speak(text, verb.getAttribute("voice"), verb.getAttribute("language"));
    }

    async gather(verb, url) {
      const attrs = Array.from(verb.attributes).map((a) => `${a.name}=${a.value}`).join(", ");
      this.ui.log("verb", `gather (${attrs})`);
      for (const inner of Array.from(verb.children)) {
        if (inner.nodeName === "Say") this.say(inner);
        else this.ui.log("verb", `${inner.nodeName.toLowerCase()}: ${inner.textContent.trim()}`);
      }
      const numDigits = parseInt(verb.getAttribute("numDigits") || "0", 10);
      const finishOnKey = verb.hasAttribute("finishOnKey") ? verb.getAttribute("finishOnKey") : "#";
      const input = (verb.getAttribute("input") || "dtmf").split(/\s+/);
      this.ui.listening(true);
      const got = await new Promise((resolve) => {
        this.pending = { resolve, digits: "", numDigits, finishOnKey, speech: input.includes("speech") };
      });
      this.pending = null;
      this.ui.listening(false);
      const action = this.abs(verb.getAttribute("action"), url);
      if (!got) {
        if (!this.active) return null;
        this.ui.log("input", "no input");
        if (verb.getAttribute("actionOnEmptyResult") === "true") {
          return { url: action, params: this.params({ Digits: "" }) };
        }
        return null;
      }
      if (got.speech !== undefined) {
        this.ui.log("input", `speech: ${got.speech}`);
        return { url: action, params: this.params({ SpeechResult: got.speech, Confidence: "0.9" }) };
      }
      this.ui.log("input", `digits: ${got.digits}`);
      const extra = { Digits: got.digits };
      if (got.finished) extra.FinishedOnKey = got.finished;
      return { url: action, params: this.params(extra) };
    }

    // A key of the keypad.
    press(key) {
      const p = this.pending;
      if (!p) return;
      if (key === p.finishOnKey && p.finishOnKey !== "") {
        p.resolve({ digits: p.digits, finished: key });
        return;
      }
      p.digits += key;
      if (p.numDigits && p.digits.length >= p.numDigits) p.resolve({ digits: p.digits });
    }

    // Typed words, for a Gather that listens for speech.
    speak(words) {
      const p = this.pending;
      if (!p) return;
      if (!p.speech) { this.ui.log("input", "(this Gather does not listen for speech)"); return; }
      p.resolve({ speech: words });
    }

    // No input (the Gather's timeout): typed digits still count.
    timeout() {
      const p = this.pending;
      if (!p) return;
      p.resolve(p.digits ? { digits: p.digits } : null);
    }

    // An SMS to the channel: the replies' texts.
    async sms(eci, from, to, body) {
      this.eci = eci;
      const url = this.ui.publicUrl().replace(/\/$/, "") + `/sky/event/${encodeURIComponent(eci)}/none/twilio/sms`;
      const sid = "SM" + hex(32);
      const params = {
        AccountSid: "AC" + hex(32), ApiVersion: "2010-04-01", MessageSid: sid, SmsSid: sid,
        Body: body, From: from, To: to, NumMedia: "0", SmsStatus: "received",
      };
      const doc = await this.request(url, params);
      return Array.from(doc.querySelectorAll("Message, Sms")).map((m) => m.textContent.trim());
    }
  }

  window.Phone = Phone;
})();
