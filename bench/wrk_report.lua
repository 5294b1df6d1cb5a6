-- wrk_report.lua: prints a run's figures as one machine-readable line for
-- bench/run-api-bench, instead of parsing wrk's human-readable summary.
-- Used alone for the GET runs (wrk -s bench/wrk_report.lua) and loaded by
-- post_vms.lua.  Latencies are wrk's, in microseconds; printed in ms.
--
--   result rps=R p50_ms=A p99_ms=B requests=N non2xx=S sock_errors=E

function report(summary, latency)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "result rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d sock_errors=%d\n",
      summary.requests / secs, latency:percentile(50.0) / 1e3,
      latency:percentile(99.0) / 1e3, summary.requests, e.status,
      e.connect + e.read + e.write + e.timeout))
end

function done(summary, latency, requests)
   report(summary, latency)
end
