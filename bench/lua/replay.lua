-- Replays pre-built raw HTTP requests (a file of requests separated by NUL bytes) in a cycle.
-- Each wrk thread takes its own slice, so a request (a webhook's event id) is sent by one thread only.
-- usage: wrk -s bench/lua/replay.lua <url> -- <requests file> <threads>
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
  reqs = {}
  local i, start = 0, 1
  while true do
    local s = string.find(data, "\0", start, true)
    if not s then break end
    if i % nthreads == tid then reqs[#reqs + 1] = string.sub(data, start, s - 1) end
    i = i + 1
    start = s + 1
  end
  assert(#reqs > 0, "no requests for thread " .. tid)
  idx = 0
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
