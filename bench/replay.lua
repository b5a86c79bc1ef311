-- wrk script: replays prepared requests once each; prints JSON on the last line.
-- wrk always runs for its -d duration, so each thread, once done, stops and leaves a file in
-- REPLAY_DONE; the caller sends wrk SIGINT when every thread has, and wrk reports at once.
-- The file (path in the REPLAY_FILE environment variable) holds one request per line:
-- <webhook-id>\t<webhook-timestamp>\t<webhook-signature>\t<body>. Thread i of n sends lines i, i+n, …
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local total_threads = counter
  requests_, sent, got, bad = {}, 0, 0, 0
  local n = 0
  for line in io.lines(os.getenv("REPLAY_FILE")) do
    if n % tonumber(os.getenv("REPLAY_THREADS")) == index then
      local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(requests_, wrk.format("POST", "/", {
        ["Content-Type"] = "application/json", ["webhook-id"] = id, ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig}, body))
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  -- more may be asked for than there are (one per connection in flight): repeat the last ones
  return requests_[math.min(sent, #requests_)]
end

function response(status, headers, body)
  got = got + 1
  if status ~= 202 then bad = bad + 1 end
  if got >= #requests_ and not finished then
    finished = true
    io.open(os.getenv("REPLAY_DONE") .. "/" .. index, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + t:get("bad") end
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "non_202": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    bad_total, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
