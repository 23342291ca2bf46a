-- Replays pre-built raw HTTP requests like replay.lua, with every "@ID@" in a body replaced by an id
-- no request has used before: a UUID read once per thread, then the thread's request count
-- (POST /v1/usage/events deduplicates by event_id forever, so a replayed id would measure the dedupe).
-- usage: wrk -s bench/lua/unique_ids.lua <url> -- <requests file> <threads>
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(args[2]) or 1
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local u = assert(io.open("/proc/sys/kernel/random/uuid", "rb"))
  base = u:read("*l")
  u:close()
  templates = {}
  local i, start = 0, 1
  while true do
    local s = string.find(data, "\0", start, true)
    if not s then break end
    if i % nthreads == tid then
      local raw = string.sub(data, start, s - 1)
      local split = string.find(raw, "\r\n\r\n", 1, true)
      local head = string.gsub(string.sub(raw, 1, split - 1), "\r\nContent%-Length: %d+", "")
      templates[#templates + 1] = {head = head, body = string.sub(raw, split + 4)}
    end
    i = i + 1
    start = s + 1
  end
  assert(#templates > 0, "no requests for thread " .. tid)
  sent = 0
end

function request()
  sent = sent + 1
  local t = templates[(sent - 1) % #templates + 1]
  local body = string.gsub(t.body, "@ID@", base .. "-" .. sent)
  return t.head .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end
