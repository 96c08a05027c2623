-- wrk script for bench/load.py: POSTs pre-signed Jodo deliveries, each body at most once.
--
-- BENCH_DIR (environment) holds one file per wrk thread, bodies.<thread id>, one delivery a
-- line: "<lower-case hex X-Jodo-Signature> <JSON body>". Thread N sends the lines of its file in
-- order and never repeats one. Should the file run out (the harness sizes it for the round, so
-- this only happens in --smoke runs or when it guessed too low), the thread stops, its last
-- request is a GET that changes nothing (its 405 answer is not counted), and `exhausted` says so.
--
-- Every 2xx response's event_id (parsed from the answer, which both receivers give as
-- {"status": ..., "event_id": ...}) is written to BENCH_DIR/ok.<thread id>, so that the harness
-- can check that every acknowledged event has its row. done() prints one line,
-- "BENCH_JSON {...}", with the counts and latency percentiles.

local dir = os.getenv("BENCH_DIR") or error("BENCH_DIR is not set")

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   sigs, bodies = {}, {}
   local file = assert(io.open(dir .. "/bodies." .. id, "r"))
   for line in file:lines() do
      local space = line:find(" ", 1, true)
      if space then
         sigs[#sigs + 1] = line:sub(1, space - 1)
         bodies[#bodies + 1] = line:sub(space + 1)
      end
   end
   file:close()
   count = #bodies
   position = 0
   exhausted = 0
   ok, non2xx, statuses = 0, 0, {}
   ok_file = assert(io.open(dir .. "/ok." .. id, "w"))
   ok_file:setvbuf("line")
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   if count == 0 then
      error("no bodies in " .. dir .. "/bodies." .. id)
   end
   if position >= count then
      exhausted = exhausted + 1
      if exhausted == 1 then
         wrk.thread:stop()
      end
      return wrk.format("GET", nil, {})
   end
   position = position + 1
   headers["X-Jodo-Signature"] = sigs[position]
   return wrk.format("POST", nil, headers, bodies[position])
end

function response(status, _, body)
   if exhausted > 0 and status == 405 then
      return -- the GET sent once the bodies ran out
   end
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 200 and status < 300 then
      ok = ok + 1
      local event_id = body and body:match('"event_id"%s*:%s*"([^"]*)"')
      if event_id then
         ok_file:write(event_id, "\n")
      end
   else
      non2xx = non2xx + 1
   end
end

local function status_string(t)
   local parts = {}
   for code, n in pairs(t) do
      parts[#parts + 1] = code .. ":" .. n
   end
   return table.concat(parts, ",")
end

function done(summary, latency, requests)
   local total = { ok = 0, non2xx = 0, exhausted = 0 }
   local status_parts = {}
   for _, thread in ipairs(threads) do
      for key in pairs(total) do
         total[key] = total[key] + (thread:get(key) or 0)
      end
      local s = status_string(thread:get("statuses") or {})
      if s ~= "" then
         status_parts[#status_parts + 1] = s
      end
   end
   local fields = {
      string.format('"duration_us":%d', summary.duration),
      string.format('"requests":%d', summary.requests),
      string.format('"statuses":"%s"', table.concat(status_parts, ",")),
      string.format('"latency_max_us":%d', latency.max),
   }
   for key, n in pairs(total) do
      fields[#fields + 1] = string.format('"%s":%d', key, n)
   end
   for _, kind in ipairs({ "connect", "read", "write", "timeout" }) do
      fields[#fields + 1] = string.format('"errors_%s":%d', kind, summary.errors[kind])
   end
   for _, p in ipairs({ 50, 95, 99 }) do
      fields[#fields + 1] = string.format('"latency_p%d_us":%d', p, latency:percentile(p))
   end
   io.write("BENCH_JSON {" .. table.concat(fields, ",") .. "}\n")
end
