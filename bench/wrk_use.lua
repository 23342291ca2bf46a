-- POST {"delta": 1} to the use endpoint, rotating over the bench users' tokens.
-- Env: BENCH_TOKENS_FILE (one token a line), BENCH_PATH, BENCH_DELAY_MS (0 = closed loop, full speed).
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do tokens[#tokens + 1] = line end
local path = os.getenv("BENCH_PATH")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local body = '{"delta": 1}'
local n = math.random(#tokens)

request = function()
  n = n % #tokens + 1
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. tokens[n],
                                   ["Content-Type"] = "application/json"}, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
