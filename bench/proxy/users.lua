-- wrk script for bench/proxy/compare: every request carries a random user id in X-User-Id,
-- so a consistent-hashing proxy hashes a fresh key each time (no single hot key), and the
-- summary is printed as one JSON line wrk's text output cannot be misread from.
--
--   wrk -t1 -c64 -d10s -s users.lua http://127.0.0.1:18201/
local users = tonumber(os.getenv("BENCH_USERS") or "100000")
-- BENCH_CLOSE=1: every request asks to close its connection, so each one is a new
-- connection (and over TLS a new handshake).
local close = os.getenv("BENCH_CLOSE") == "1"

function init(args)
  -- A different sequence per wrk thread: ids are random, not the same stream twice.
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  local headers = { ["X-User-Id"] = "user-" .. math.random(1, users) }
  if close then headers["Connection"] = "close" end
  return wrk.format("GET", "/", headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
