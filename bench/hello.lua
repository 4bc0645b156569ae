-- wrk script for bench/workloads.sh: hello:hi events (W1) on one pico.
-- Environment: ECIS (a file whose first line is the pico's ECI).
-- done() prints one JSON line, in the shape of bench/events.lua's.

function init(args)
  local eci = io.lines(os.getenv("ECIS"))()
  req = wrk.format("POST", "/sky/event/" .. eci .. "/none/hello/hi")
end

function request()
  return req
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
