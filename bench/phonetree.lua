-- wrk script for bench/workloads.sh: twilio:choice events on one pico, each
-- from one of CALLERS callers ("+1555" .. i, i at random), so that the
-- phone tree writes ent:choices{[caller]} into a map of CALLERS entries.
--
-- Environment: ECI (the pico's channel), CALLERS (default 100000).
-- done() prints one JSON line, in the shape of bench/events.lua's.

function init(args)
  eci = os.getenv("ECI")
  callers = tonumber(os.getenv("CALLERS") or "100000")
  path = "/sky/event/" .. eci .. "/none/twilio/choice"
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  math.randomseed(os.time())
end

function request()
  local body = "From=%2B1555" .. math.random(0, callers - 1) .. "&Digits=" .. math.random(0, 9)
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "rps": %.1f, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"socket_errors": %d, "timeouts": %d, "non_2xx": %d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write, e.timeout, e.status))
end
