-- wrk script: GET the paths listed in the file named by BENCH_LOOKUP_FILE, round robin.
local paths = {}
local n = 0

init = function(args)
  for line in io.lines(os.getenv("BENCH_LOOKUP_FILE")) do
    paths[#paths + 1] = line
  end
  -- BENCH_KEY: an API key every request sends, as integrators with keys look items up.
  local key = os.getenv("BENCH_KEY")
  if key and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
end

request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

-- summary.errors.status counts answers that were not 2xx/3xx: a broken benchmark, not a fast one.
done = function(summary, latency, requests)
  io.write(string.format("BENCH non2xx=%d p50_us=%d p95_us=%d\n",
    summary.errors.status, latency:percentile(50), latency:percentile(95)))
end
