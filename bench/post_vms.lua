-- post_vms.lua: POST /v1/vms with a new, unique VM name on every request.
--
--   wrk -s bench/post_vms.lua -H 'Authorization: Bearer T' URL -- PREFIX KEY [LIMIT]
--
-- Names are PREFIX-THREAD-N: each wrk thread has its own Lua state and
-- counter, and setup() (run in the main state) hands each thread its id, so
-- no two requests of a run share a name.  KEY is the name of an SSH key that
-- exists.  With LIMIT > 0 each thread stops after LIMIT answers (seeding);
-- a few more may already be in flight on its other connections.
--
-- Prints wrk_report.lua's "result" line, then
--   created N=... failed=... first_failure=STATUS BODY

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   prefix = args[1] or "bench"
   key = args[2] or "bench"
   limit = tonumber(args[3] or "0")
   sent, answered, created, failed, first_failure = 0, 0, 0, 0, ""
   wrk.method = "POST"
   wrk.path = "/v1/vms"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   sent = sent + 1
   local body = string.format(
      '{"name":"%s-%d-%d","size":"s-1vcpu-1gb","image":"debian-12-amd64","ssh_keys":["%s"]}',
      prefix, id, sent, key)
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   answered = answered + 1
   if status == 202 then
      created = created + 1
   else
      failed = failed + 1
      if first_failure == "" then
         first_failure = status .. " " .. body:gsub("%s+", " ")
      end
   end
   if limit > 0 and answered >= limit then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   report(summary, latency)
   local c, f, first = 0, 0, ""
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      f = f + t:get("failed")
      if first == "" then first = t:get("first_failure") end
   end
   io.write(string.format("created n=%d failed=%d first_failure=%s\n", c, f, first))
end
