-- wrk script: replay one prepared body (path, file, content type and key from the environment).
local file = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
local encoding = os.getenv("BENCH_CONTENT_ENCODING")
if encoding and encoding ~= "" then
  wrk.headers["Content-Encoding"] = encoding  -- remote-write bodies are snappy
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH_JSON {\"requests\": %d, \"non2xx\": %d, \"errors\": %d, \"seconds\": %f, " ..
    "\"p50_ms\": %f, \"p99_ms\": %f}\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
