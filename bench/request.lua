-- One wrk load, described by the environment (bench/run.py sets it):
--   BENCH_METHOD, BENCH_AUTH (Authorization header), BENCH_BODY (a JSON body),
--   BENCH_BODIES (several bodies separated by newlines, used in turn).
-- Non-2xx answers are counted here; done() prints one JSON line for run.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.body = os.getenv("BENCH_BODY")
if os.getenv("BENCH_AUTH") then
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end
if wrk.body or os.getenv("BENCH_BODIES") then
  wrk.headers["Content-Type"] = "application/json"
end

local bodies = {}
for body in string.gmatch(os.getenv("BENCH_BODIES") or "", "[^\n]+") do
  table.insert(bodies, body)
end
if #bodies > 0 then
  local turn = 0
  request = function()
    turn = turn % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[turn])
  end
end

non2xx = 0

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout, e.timeout))
end
