-- wrk script for bench/twiml.sh: Twilio voice webhooks (form POSTs to
-- /sky/event/ECI/none/twilio/inbound_call) on many picos, each with the
-- X-Twilio-Signature computed beforehand (the URL and the parameters are
-- fixed, so every request of one ECI carries the same valid signature).
--
-- Environment:
--   ECIS    file with "ECI SIGNATURE" a line ("-": send no signature)
--   BODY    file holding the form body (the webhook's parameters)
--   COUNTS  where done() writes "eci issued acked" per ECI (optional)
--
-- An answer counts as acknowledged when it is 200 TwiML with the Gather
-- whose action URL names the pico's ECI (that is how response() knows
-- which pico answered). done() prints one JSON line, as events.lua does.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BODY"), "rb"))
  local body = f:read("*a")
  f:close()
  ecis, reqs, issued, acked = {}, {}, {}, {}
  for line in io.lines(os.getenv("ECIS")) do
    local eci, sig = string.match(line, "^(%S+)%s+(%S+)$")
    if eci then
      local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
      if sig ~= "-" then headers["X-Twilio-Signature"] = sig end
      ecis[#ecis + 1] = eci
      reqs[#reqs + 1] = wrk.format("POST", "/sky/event/" .. eci .. "/none/twilio/inbound_call",
        headers, body)
    end
  end
  n = #ecis
  pos = math.floor(tid * n / 8) % n
  bad = 0
  badbody = 0
end

function request()
  pos = pos % n + 1
  local eci = ecis[pos]
  issued[eci] = (issued[eci] or 0) + 1
  return reqs[pos]
end

function response(status, headers, body)
  if status == 200 then
    local eci = string.match(body, '<Gather action="[^"]*/sky/event/([^/]+)/none/twilio/menu"')
    if eci and string.find(body, "<Say voice=\"woman\">Hello ", 1, true) then
      acked[eci] = (acked[eci] or 0) + 1
    else
      badbody = badbody + 1
    end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local issued_all, acked_all, ecis_all = {}, {}, nil
  local bad_all, badbody_all = 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("issued")) do issued_all[k] = (issued_all[k] or 0) + v end
    for k, v in pairs(t:get("acked")) do acked_all[k] = (acked_all[k] or 0) + v end
    bad_all = bad_all + t:get("bad")
    badbody_all = badbody_all + t:get("badbody")
    ecis_all = ecis_all or t:get("ecis")
  end
  local issued_n, acked_n = 0, 0
  local path = os.getenv("COUNTS")
  local f = path and path ~= "" and io.open(path, "w") or nil
  for _, eci in ipairs(ecis_all) do
    local i, a = issued_all[eci] or 0, acked_all[eci] or 0
    issued_n, acked_n = issued_n + i, acked_n + a
    if f then f:write(eci, " ", i, " ", a, "\n") end
  end
  if f then f:close() end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "rps": %.1f, "ok_rps": %.1f, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"issued": %d, "acked": %d, "non_200": %d, "no_eid": %d, ' ..
    '"socket_errors": %d, "timeouts": %d}\n',
    summary.requests, secs, summary.requests / secs, acked_n / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    issued_n, acked_n, bad_all, badbody_all,
    e.connect + e.read + e.write, e.timeout))
end
