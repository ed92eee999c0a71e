-- wrk script of `make bench-errors` (bench/errors.py): one-event envelopes over a hot set of
-- issues, each with a fresh event_id, and the id of every acknowledged (200) event written down.
--
-- BENCH_TEMPLATE: one envelope with @@ISSUE@@ (the issue number) and @@EVENT@@ (the event_id,
-- 32 hex) placeholders; BENCH_PATH: the envelope URL's path and query; BENCH_ISSUES: the hot set;
-- BENCH_NONCE: this run's number (ids stay unique across runs); BENCH_IDS: file prefix for the
-- acknowledged ids (one file per wrk thread, one id per line); BENCH_DELAY_MS (optional): each
-- connection waits this long before each request (the paced phase: connections / delay requests
-- per second while answers are fast).
local threads = {}

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay()  -- wrk looks for this function when it loads the script
    return pause
  end
end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("number", counter)
  table.insert(threads, thread)
end

local parts = {}  -- per issue: the body split around its two event_id placeholders
local hot, path, nonce, ids, sent
acked, refused = 0, 0  -- (globals: done() reads them with thread:get)

function init(args)
  local file = io.open(os.getenv("BENCH_TEMPLATE"), "rb")
  local template = file:read("*a")
  file:close()
  hot = tonumber(os.getenv("BENCH_ISSUES"))
  path = os.getenv("BENCH_PATH")
  nonce = tonumber(os.getenv("BENCH_NONCE"))
  for issue = 0, hot - 1 do
    local body = template:gsub("@@ISSUE@@", tostring(issue))
    local pieces = {}
    for piece in (body .. "@@EVENT@@"):gmatch("(.-)@@EVENT@@") do
      table.insert(pieces, piece)
    end
    parts[issue] = pieces
  end
  ids = io.open(os.getenv("BENCH_IDS") .. "." .. tostring(number), "w")
  ids:setvbuf("line")  -- wrk never closes a thread's Lua state: nothing may wait in a buffer
  sent, acked, refused = 0, 0, 0
end

function request()
  sent = sent + 1
  local event_id = string.format("%08x%08x%08x%08x", nonce, number, math.floor(sent / 65536), sent % 65536)
  local pieces = parts[sent % hot]
  local body = table.concat(pieces, event_id)
  return wrk.format("POST", path, {["Content-Type"] = "application/x-sentry-envelope"}, body)
end

function response(status, headers, body)
  if status == 200 then
    acked = acked + 1
    ids:write(body:match('"id":"(%x+)"'), "\n")
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total_acked, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_acked = total_acked + thread:get("acked")
    total_refused = total_refused + thread:get("refused")
  end
  io.write(string.format("BENCH_JSON {\"requests\": %d, \"acked\": %d, \"refused\": %d, \"errors\": %d, " ..
    "\"seconds\": %f, \"p50_ms\": %f, \"p99_ms\": %f}\n", summary.requests, total_acked, total_refused,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
