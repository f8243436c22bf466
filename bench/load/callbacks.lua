-- wrk script: walk through pre-generated WeChat callbacks (bench/load/callbacks.py).
--
-- wrk -s callbacks.lua URL -- FILE BYTE_OFFSET COUNT THREADS [RATE]
--   FILE         one request per line: "<path>?<query>\t<body>"
--   BYTE_OFFSET  where this run's segment starts in FILE (a line start)
--   COUNT        lines in the segment; thread t takes lines t, t+THREADS, t+2*THREADS, ...
--                so no two threads (nor two connections) ever send the same request
--   THREADS      wrk's -t value
--   RATE         optional: requests/s for this thread (paced with delay(); 0 = as fast as
--                the connections allow)
-- A thread that runs out of lines starts its share again from the beginning and counts the
-- wrap-around; the harness reports it (harmless for the baselines, a failed run for the
-- gateway, whose dedup would answer the repeats from the store).
-- done() prints one line "BENCH_JSON {...}" with wrk's numbers, latency percentiles in µs.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
local idx = 0
sent = 0
wrapped = 0

function init(args)
  local file, offset, count, nthreads = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  local rate = tonumber(args[5] or "0")
  local headers = { ["Content-Type"] = "text/xml" }
  local f = assert(io.open(file, "rb"))
  f:seek("set", offset)
  local line_no = 0
  for line in f:lines() do
    if line_no >= count then break end
    if line_no % nthreads == tid then
      local tab = line:find("\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
    end
    line_no = line_no + 1
  end
  f:close()
  n = #reqs
  assert(n > 0, "no requests for thread " .. tid)
  if rate > 0 then
    local ffi = require("ffi")
    ffi.cdef [[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clock_id, bench_timespec *tp);
    ]]
    local ts = ffi.new("bench_timespec")
    local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
    end
    local interval = 1000 / rate
    local next_at = nil
    -- each request takes the next slot of the thread's schedule; a backlog older than one
    -- second (the server stalled) is dropped instead of being sent as a burst
    delay = function()
      local now = now_ms()
      if next_at == nil or next_at < now - 1000 then next_at = now end
      next_at = next_at + interval
      local wait = next_at - interval - now
      if wait < 0 then return 0 end
      return math.floor(wait)
    end
  end
end

function request()
  idx = idx + 1
  if idx > n then
    idx = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  return reqs[idx]
end

function done(summary, latency, requests)
  local max_sent, total_sent, total_wrapped = 0, 0, 0
  for _, thread in ipairs(threads) do
    local s = thread:get("sent") or 0
    total_sent = total_sent + s
    if s > max_sent then max_sent = s end
    total_wrapped = total_wrapped + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"sent":%d,"max_sent_per_thread":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    total_sent, max_sent, total_wrapped))
end
