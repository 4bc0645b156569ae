-- wrk script for bench/load.py setup --wrk 1: makes picos through
-- the admin API (POST /api/picos, each with bench.counter installed in
-- the same request), as fast as one wrk thread can send them.
--
-- Environment:
--   TOKEN    the admin token (required)
--   N        how many picos to make (required)
--   PARENTS  file with one parent pico id a line (optional: without it
--            every pico is a child of the root); pico i goes under
--            parent floor(i / FANOUT)
--   FANOUT   picos per parent (with PARENTS)
--   OUT      file the new picos' ECIs are written to, one a line
--            (required)
--
-- Run with one thread (-t1): the numbering is the thread's. Requests
-- past N, sent only while the last creations are answered, are
-- GET /api/picos/krl-bench-idle: they make nothing and are answered 404,
-- which response() skips. Once N creations are answered it prints one
-- JSON line (picos made, creations refused: any other answer without an
-- eci) and ends the process: give -d as a time limit.

function init(args)
  token = "Bearer " .. os.getenv("TOKEN")
  n = tonumber(os.getenv("N"))
  fanout = tonumber(os.getenv("FANOUT") or "0")
  parents = {}
  local pf = os.getenv("PARENTS")
  if pf and pf ~= "" then
    for line in io.lines(pf) do
      if line ~= "" then parents[#parents + 1] = line end
    end
  end
  out = assert(io.open(os.getenv("OUT"), "w"))
  sent, made, refused, answered = 0, 0, 0, 0
  headers = { ["Authorization"] = token, ["Content-Type"] = "application/json" }
  idle = wrk.format("GET", "/api/picos/krl-bench-idle", { ["Authorization"] = token })
end

function request()
  -- wrk asks for one request at start-up that it never sends: let that
  -- one be the idle request, so that no creation is lost with it.
  if not asked then
    asked = true
    return idle
  end
  if sent >= n then
    return idle
  end
  local i = sent
  sent = sent + 1
  local body
  if #parents > 0 then
    body = string.format('{"name":"p%d","parent":"%s","rulesets":[{"rid":"bench.counter"}]}',
      i, parents[math.floor(i / fanout) + 1])
  else
    body = string.format('{"name":"p%d","rulesets":[{"rid":"bench.counter"}]}', i)
  end
  return wrk.format("POST", "/api/picos", headers, body)
end

function response(status, headers, body)
  if status == 404 and string.find(body, "krl-bench-idle", 1, true) then
    return
  end
  local eci = status == 200 and string.match(body, '"eci":"([^"]*)"')
  if eci then
    out:write(eci, "\n")
    made = made + 1
  else
    refused = refused + 1
    io.stderr:write("refused: ", status, " ", body, "\n")
  end
  answered = answered + 1
  if answered >= n then
    -- wrk's main thread would sleep out the whole -d: done here.
    out:close()
    io.write(string.format('{"made": %d, "refused": %d}\n', made, refused))
    io.stdout:flush()
    os.exit(0)
  end
end
