-- Copyright: Dockyard contributors
-- GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
--
-- wrk's script for bench/token_server.py: every request carries the Basic
-- credentials of $DOCKYARD_BENCH_AUTHORIZATION; every answer is checked (a 200
-- whose JSON body holds a token shaped like a JWT); at the end one line
-- "BENCH-JSON {...}" gives the counts and the latency percentiles (microseconds).

wrk.headers["Authorization"] = os.getenv("DOCKYARD_BENCH_AUTHORIZATION")

-- Per thread (read by done() through thread:get).
statuses = {}  -- status code (as text) -> answers other than 200
tokenless = 0  -- 200s without a token in the body

local JWT = '"token"%s*:%s*"[%w_%-]+%.[%w_%-]+%.[%w_%-]+"'

function response(status, headers, body)
  if status ~= 200 then
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  elseif not string.find(body, JWT) then
    tokenless = tokenless + 1
  end
end

-- The setup and done phases share an environment of their own.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local by_status, without_token = {}, 0
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      by_status[code] = (by_status[code] or 0) + count
    end
    without_token = without_token + thread:get("tokenless")
  end
  local codes = {}
  for code, count in pairs(by_status) do
    table.insert(codes, string.format('"%s":%d', code, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_us":%d,"statuses":{%s},"tokenless":%d,'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(codes, ","), without_token,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end
