-- wrk script for bench/load.sh: raises counter:inc on many picos.
--
-- Environment:
--   ECIS    file with one ECI a line (required)
--   COUNTS  where done() writes "eci issued acked" per ECI (optional)
--   METHOD  POST (default) or GET
--   PICK    "round" (default) or "random"
--
-- Each wrk thread walks the ECI list round robin (threads start at
-- different offsets), so concurrent requests go to different picos when
-- there are several; with PICK=random each request goes to a pico drawn
-- at random (uniformly, with replacement) from the whole list. The event id in the path is the ECI itself: the
-- engine echoes it in the answer ({"eid": ...}), which is how response()
-- knows which pico acknowledged. done() prints one JSON line of results.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local method = os.getenv("METHOD") or "POST"
  ecis, reqs, issued, acked = {}, {}, {}, {}
  for line in io.lines(os.getenv("ECIS")) do
    if line ~= "" then
      ecis[#ecis + 1] = line
      reqs[#reqs + 1] = wrk.format(method, "/sky/event/" .. line .. "/" .. line .. "/counter/inc")
    end
  end
  n = #ecis
  pos = math.floor(tid * n / 8) % n
  random = os.getenv("PICK") == "random"
  math.randomseed(os.time() * 1000 + tid)
  bad = 0
  badbody = 0
end

function request()
  if random then
    pos = math.random(n)
  else
    pos = pos % n + 1
  end
  local eci = ecis[pos]
  issued[eci] = (issued[eci] or 0) + 1
  return reqs[pos]
end

function response(status, headers, body)
  if status == 200 then
    local eid = string.match(body, '"eid":"([^"]*)"')
    if eid then
      acked[eid] = (acked[eid] or 0) + 1
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
