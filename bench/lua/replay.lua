-- Replays pre-built raw HTTP requests (a file of requests separated by NUL bytes) in a cycle.
-- Each wrk thread takes its own slice, so a request (a webhook's event id) is sent by one thread only.
-- With "unique", every "@ID@" in a body becomes an id no request used before (a UUID read once per
-- thread, then the thread's request count): POST /v1/usage/events deduplicates event ids for good,
-- so a replayed id would measure the dedupe instead of the counting.
-- usage: wrk -s bench/lua/replay.lua <url> -- <requests file> <threads> [unique]
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(args[2]) or 1
  unique = args[3] == "unique"
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  if unique then
    local u = assert(io.open("/proc/sys/kernel/random/uuid", "rb"))
    base = u:read("*l")
    u:close()
  end
  reqs = {}
  local i, start = 0, 1
  while true do
    local s = string.find(data, "\0", start, true)
    if not s then break end
    if i % nthreads == tid then
      local raw = string.sub(data, start, s - 1)
      if unique then
        local split = string.find(raw, "\r\n\r\n", 1, true)
        local head = string.gsub(string.sub(raw, 1, split - 1), "\r\nContent%-Length: %d+", "")
        raw = {head = head, body = string.sub(raw, split + 4)}
      end
      reqs[#reqs + 1] = raw
    end
    i = i + 1
    start = s + 1
  end
  assert(#reqs > 0, "no requests for thread " .. tid)
  idx, sent = 0, 0
end

function request()
  idx = idx % #reqs + 1
  if not unique then return reqs[idx] end
  sent = sent + 1
  local body = string.gsub(reqs[idx].body, "@ID@", base .. "-" .. sent)
  return reqs[idx].head .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end
