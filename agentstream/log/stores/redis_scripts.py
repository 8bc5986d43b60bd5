"""The Redis store's Lua scripts: one per write, so each write is one atomic round trip.

A script that fails half-way keeps what it already wrote (Redis scripts are atomic, not
transactional), so every script makes all of its checks before its first write.

Every thread script gets the thread's keys in this order (see `RedisEventStore._keys`) and starts
its arguments with the thread id, the writer's clock and the retention in seconds.
"""

from __future__ import annotations

_PRELUDE = """
local META, EVENTS, RUNS, STEPS, OPEN, MESSAGES, DEDUPE, DEDUPE_BY_SEQ, RUN_IDS, INDEX, ACTIVE = unpack(KEYS)
local THREAD, NOW, RETENTION = ARGV[1], ARGV[2], tonumber(ARGV[3])

local function seq_of(id)
  return tonumber(string.match(id, '^%d+'))
end

local function run_refusal(run_id, finishing)
  local raw = redis.call('HGET', RUNS, run_id)
  if not raw then return nil end
  local run = cjson.decode(raw)
  if run.status ~= 'running' then return 'RUN_OVER ' .. run.status end
  if run.cancel_requested and not finishing then return 'RUN_OVER cancelling' end
  return nil
end

local function attempt_refusal(step_id, attempt)
  local raw = redis.call('HGET', STEPS, step_id)
  if raw then
    local step = cjson.decode(raw)
    if step.status == 'started' and step.attempt == attempt then return nil end
  end
  return 'STEP_SUPERSEDED ' .. step_id
end

-- Appends the n events given as type, data pairs from ARGV[first]; returns the seq before them.
local function append(run_id, first, n)
  local last = tonumber(redis.call('HGET', META, 'last'))
  for i = 0, n - 1 do
    redis.call('XADD', EVENTS, (last + i + 1) .. '-0',
      'ts', NOW, 'run', run_id, 'type', ARGV[first + 2 * i], 'data', ARGV[first + 2 * i + 1])
  end
  redis.call('HSET', META, 'last', last + n, 'updated', NOW)
  return last
end

-- Drops events past retention from the front, a bounded walk per write; later writes go on.
local function trim()
  local cutoff = tonumber(NOW) - RETENTION
  local oldest = redis.call('XRANGE', EVENTS, '-', '+', 'COUNT', 1)
  if #oldest == 0 or tonumber(oldest[1][2][2]) >= cutoff then return end
  local floor = nil
  local start = '-'
  for _ = 1, 10 do
    local batch = redis.call('XRANGE', EVENTS, start, '+', 'COUNT', 100)
    if #batch == 0 then break end
    local fresh = false
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][2]) >= cutoff then fresh = true; break end
      floor = seq_of(entry[1])
    end
    if fresh then break end
    start = '(' .. batch[#batch][1]
  end
  redis.call('XTRIM', EVENTS, 'MINID', (floor + 1) .. '-0')
  redis.call('HSET', META, 'floor', floor)
  local stale = redis.call('ZRANGEBYSCORE', DEDUPE_BY_SEQ, '-inf', floor, 'LIMIT', 0, 1000)
  if #stale > 0 then
    redis.call('HDEL', DEDUPE, unpack(stale))
    redis.call('ZREM', DEDUPE_BY_SEQ, unpack(stale))
  end
end

-- Every write keeps the whole thread alive for another retention period.
local function touch()
  local ms = math.floor(RETENTION * 1000)
  for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ms) end
  redis.call('ZADD', INDEX, NOW, THREAD)
end

local function missing_thread()
  return redis.call('EXISTS', META) == 0
end
"""

# ARGV: ..., run_id, create (1/0), agent, message count, messages..., event count, events...
START_RUN = (
    _PRELUDE
    + """
local run_id, create, agent, nm = ARGV[4], ARGV[5] == '1', ARGV[6], tonumber(ARGV[7])
local events_at = 8 + nm
if missing_thread() then
  if not create then return redis.error_reply('THREAD_NOT_FOUND') end
  redis.call('HSET', META, 'created', NOW, 'updated', NOW, 'last', 0, 'floor', 0, 'active', '')
else
  -- A thread stored before threads had owners has no 'agent': the write below claims it.
  local owner = redis.call('HGET', META, 'agent')
  if owner and owner ~= agent then return redis.error_reply('AGENT_MISMATCH ' .. owner) end
  local active = redis.call('HGET', META, 'active')
  if active and active ~= '' then return redis.error_reply('RUN_ACTIVE ' .. active) end
end
local last = tonumber(redis.call('HGET', META, 'last'))
redis.call('HSET', RUNS, run_id, cjson.encode({
  status = 'running', created_at = NOW, start_seq = last + 1, usage = {}, cancel_requested = false}))
redis.call('HSET', META, 'active', run_id, 'agent', agent)
redis.call('SADD', ACTIVE, THREAD)
for i = 1, nm do redis.call('RPUSH', MESSAGES, ARGV[7 + i]) end
redis.call('SADD', RUN_IDS, run_id)
append(run_id, events_at + 1, tonumber(ARGV[events_at]))
trim()
touch()
return last + 1
"""
)

# ARGV: ..., run_id, key or '', step id or '', attempt, event count, events...
# Returns {1, first seq} for a new append, {0, the stored entries} for a key already used.
APPEND = (
    _PRELUDE
    + """
local run_id, key, step_id, n = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[8])
if step_id ~= '' then
  local refusal = attempt_refusal(step_id, tonumber(ARGV[7]))
  if refusal then return redis.error_reply(refusal) end
end
local refusal = run_refusal(run_id, false)
if refusal then return redis.error_reply(refusal) end
if key ~= '' then
  local seen = redis.call('HGET', DEDUPE, key)
  if seen then
    local first, count = string.match(seen, '^(%d+) (%d+)$')
    first, count = tonumber(first), tonumber(count)
    return {0, redis.call('XRANGE', EVENTS, first .. '-0', (first + count - 1) .. '-0')}
  end
end
if missing_thread() then return redis.error_reply('THREAD_NOT_FOUND') end
local last = append(run_id, 9, n)
if key ~= '' then
  redis.call('HSET', DEDUPE, key, (last + 1) .. ' ' .. n)
  redis.call('ZADD', DEDUPE_BY_SEQ, last + n, key)
end
trim()
touch()
return {1, last + 1}
"""
)

# ARGV: ..., run_id, step id, attempt
BEGIN_STEP = (
    _PRELUDE
    + """
local run_id, step_id, attempt = ARGV[4], ARGV[5], tonumber(ARGV[6])
if missing_thread() then return redis.error_reply('THREAD_NOT_FOUND') end
local last = tonumber(redis.call('HGET', META, 'last'))
local step = {run = run_id, status = 'started', attempt = attempt, start_seq = last}
redis.call('HSET', STEPS, step_id, cjson.encode(step))
redis.call('SADD', OPEN, step_id)
touch()
return last
"""
)

# ARGV: ..., run_id, step id, attempt, event count, events...   Returns the first seq, or 0 when not discarded.
DISCARD_STEP = (
    _PRELUDE
    + """
local run_id, step_id, attempt = ARGV[4], ARGV[5], tonumber(ARGV[6])
local raw = redis.call('HGET', STEPS, step_id)
if not raw then return 0 end
local step = cjson.decode(raw)
if step.status ~= 'started' or step.attempt ~= attempt then return 0 end
local refusal = run_refusal(run_id, true)
if refusal then return redis.error_reply(refusal) end
if missing_thread() then return redis.error_reply('THREAD_NOT_FOUND') end
step.status = 'discarded'
redis.call('HSET', STEPS, step_id, cjson.encode(step))
redis.call('SREM', OPEN, step_id)
local last = append(run_id, 8, tonumber(ARGV[7]))
trim()
touch()
return last + 1
"""
)

# ARGV: ..., run_id, step id, attempt or '', result JSON, usage JSON or '', message count, messages...,
#       event count, events...   Returns the first seq, or 0 when the step had already committed.
COMMIT_STEP = (
    _PRELUDE
    + """
local run_id, step_id, attempt, nm = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[9])
local events_at = 10 + nm
local n = tonumber(ARGV[events_at])
local raw = redis.call('HGET', STEPS, step_id)
local step = raw and cjson.decode(raw)
if step and step.status == 'committed' then return 0 end
if attempt ~= '' then
  local refusal = attempt_refusal(step_id, tonumber(attempt))
  if refusal then return redis.error_reply(refusal) end
end
local refusal = run_refusal(run_id, false)
if refusal then return redis.error_reply(refusal) end
if missing_thread() then return redis.error_reply('THREAD_NOT_FOUND') end
local last = append(run_id, events_at + 1, n)
if not step then
  step = {run = run_id, attempt = 1, start_seq = (n > 0) and last or 0}
end
step.status = 'committed'
step.result = ARGV[7]
redis.call('HSET', STEPS, step_id, cjson.encode(step))
redis.call('SREM', OPEN, step_id)
for i = 1, nm do redis.call('RPUSH', MESSAGES, ARGV[9 + i]) end
if ARGV[8] ~= '' then
  local run_raw = redis.call('HGET', RUNS, run_id)
  if run_raw then
    local run = cjson.decode(run_raw)
    for name, value in pairs(cjson.decode(ARGV[8])) do run.usage[name] = (run.usage[name] or 0) + value end
    redis.call('HSET', RUNS, run_id, cjson.encode(run))
  end
end
trim()
touch()
return last + 1
"""
)

# ARGV: ..., run_id, status, error JSON or '', event count, events (the last one terminal)...
# Returns the first seq, or 0 when the run was already over.
FINISH_RUN = (
    _PRELUDE
    + """
local run_id, status, err, n = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local raw = redis.call('HGET', RUNS, run_id)
if not raw then return 0 end
local run = cjson.decode(raw)
if run.status ~= 'running' then return 0 end
if run.cancel_requested and status ~= 'cancelled' then return redis.error_reply('CANCEL_REQUESTED ' .. run_id) end
if missing_thread() then return redis.error_reply('THREAD_NOT_FOUND') end
local last = append(run_id, 8, n)
run.status = status
run.finished_at = NOW
run.end_seq = last + n
if err ~= '' then run.error = err end
redis.call('HSET', RUNS, run_id, cjson.encode(run))
if redis.call('HGET', META, 'active') == run_id then
  redis.call('HSET', META, 'active', '')
  redis.call('SREM', ACTIVE, THREAD)
end
trim()
touch()
return last + 1
"""
)

# ARGV: ..., run_id   Returns the run as it stands after the call, or nil.
REQUEST_CANCEL = (
    _PRELUDE
    + """
local raw = redis.call('HGET', RUNS, ARGV[4])
if not raw then return nil end
local run = cjson.decode(raw)
if run.status == 'running' and not run.cancel_requested then
  run.cancel_requested = true
  raw = cjson.encode(run)
  redis.call('HSET', RUNS, ARGV[4], raw)
end
return raw
"""
)

# ARGV: ..., run_id   Returns step id, step JSON pairs.
OPEN_STEPS = (
    _PRELUDE
    + """
local found = {}
for _, step_id in ipairs(redis.call('SMEMBERS', OPEN)) do
  local raw = redis.call('HGET', STEPS, step_id)
  if raw then
    local step = cjson.decode(raw)
    if step.run == ARGV[4] and step.status == 'started' then
      table.insert(found, step_id)
      table.insert(found, raw)
    end
  end
end
return found
"""
)

# KEYS: meta, events. ARGV: after, limit.
READ = """
local floor = redis.call('HGET', KEYS[1], 'floor')
if not floor then return {} end
if tonumber(ARGV[1]) < tonumber(floor) then return redis.error_reply('CURSOR_EXPIRED ' .. floor) end
return redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
"""

# ARGV: thread id, idle_before.   Deletes the thread unless it was written since; returns {1, run ids...} or nil.
PURGE_THREAD = """
local score = redis.call('ZSCORE', KEYS[10], ARGV[1])
if not score or tonumber(score) >= tonumber(ARGV[2]) then return nil end
local runs = redis.call('SMEMBERS', KEYS[9])
redis.call('DEL', unpack(KEYS, 1, 9))
redis.call('ZREM', KEYS[10], ARGV[1])
redis.call('SREM', KEYS[11], ARGV[1])
table.insert(runs, 1, 1)
return runs
"""
