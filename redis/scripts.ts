// The Lua scripts that make each fenced write atomic with its check: the lease value is compared in the
// same script that writes, so no write of a deposed holder can slip in between check and write.
// Stream IDs are compared in Lua as two numbers (doubles: exact up to 2^53, far above etcd revisions).
import type { Redis } from 'ioredis';
import type { LeaderToken } from '../streams/change-log.ts';

/** The lease key's value: the epoch and the holder, so one comparison checks both. */
export function leaseValue(token: LeaderToken): string {
  return `${token.epoch}:${token.holder}`;
}

export function tokenOfLeaseValue(value: string): LeaderToken | undefined {
  const m = /^(\d+):(.*)$/s.exec(value);
  return m ? { epoch: Number(m[1]), holder: m[2] ?? '' } : undefined;
}

const ID_LESS = `
local function idParts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function idLess(a, b)
  local am, as = idParts(a)
  local bm, bs = idParts(b)
  return am < bm or (am == bm and as < bs)
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** KEYS lease, epoch; ARGV holder, ttl → {1, epoch} acquired, or {0, current value}. */
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current then return {0, current} end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], epoch .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return {1, epoch}
`;

/** KEYS lease; ARGV value, ttl → 1 extended, 0 not the holder. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** KEYS lease; ARGV value → 1 released, 0 not the holder. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * KEYS lease, log, times; ARGV value, marker interval ms, then id, entry pairs (strictly increasing:
 * checked by the caller, so once the first XADD passes, none of the others can fail half way).
 * → {'ok', top} | {'deposed', holder} | {'behind', top}
 */
const APPEND = `${ID_LESS}
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then return {'deposed', holder or ''} end
local first = redis.pcall('XADD', KEYS[2], ARGV[3], 'e', ARGV[4])
if type(first) == 'table' and first.err then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return {'behind', info[i + 1]} end
  end
  return {'behind', '0-0'}
end
for i = 5, #ARGV, 2 do redis.call('XADD', KEYS[2], ARGV[i], 'e', ARGV[i + 1]) end
local top = ARGV[#ARGV - 1]
local now = nowMs()
local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #newest == 0 or now - idParts(newest[1][1]) >= tonumber(ARGV[2]) then
  redis.call('XADD', KEYS[3], '*', 'top', top)
end
return {'ok', top}
`;

/**
 * KEYS lease, log, trimmed, times; ARGV value, keep ms, not-after id ('' for none).
 * Drops every entry up to the log's top at the newest time mark older than the cutoff (never past
 * not-after); records the last entry dropped. → {'ok', trimmed or ''} | {'deposed', holder}
 */
const TRIM = `${ID_LESS}
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then return {'deposed', holder or ''} end
local cutoff = nowMs() - tonumber(ARGV[2])
local marks = redis.call('XREVRANGE', KEYS[4], '(' .. string.format('%.0f', cutoff) .. '-0', '-', 'COUNT', 1)
if #marks == 0 then return {'ok', redis.call('GET', KEYS[3]) or ''} end
redis.call('XTRIM', KEYS[4], 'MINID', marks[1][1])
local cut = marks[1][2][2]
if ARGV[3] ~= '' and idLess(ARGV[3], cut) then cut = ARGV[3] end
local last = redis.call('XREVRANGE', KEYS[2], cut, '-', 'COUNT', 1)
if #last > 0 then
  local id = last[1][1]
  local ms, seq = idParts(id)
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%.0f-%.0f', ms, seq + 1))
  local previous = redis.call('GET', KEYS[3])
  if not previous or idLess(previous, id) then redis.call('SET', KEYS[3], id) end
end
return {'ok', redis.call('GET', KEYS[3]) or ''}
`;

/**
 * KEYS lease, log, trimmed; ARGV value, id. A new leader whose state the log lacks (the log lost its
 * tail, or the leader ran on its own while Redis was away) starts the log again at `id`: every entry up
 * to it is dropped and it is recorded as trimmed, so that every follower behind it reloads the snapshot
 * written there. → {'ok'} | {'deposed', holder}
 */
const RESEED = `${ID_LESS}
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then return {'deposed', holder or ''} end
local ms, seq = idParts(ARGV[2])
redis.call('XTRIM', KEYS[2], 'MINID', string.format('%.0f-%.0f', ms, seq + 1))
local previous = redis.call('GET', KEYS[3])
if not previous or idLess(previous, ARGV[2]) then redis.call('SET', KEYS[3], ARGV[2]) end
return {'ok'}
`;

/** KEYS floor; ARGV id → the floor after raising it to id (it never goes down). */
const RAISE_FLOOR = `${ID_LESS}
local current = redis.call('GET', KEYS[1])
if not current or idLess(current, ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
`;

/**
 * KEYS lease, current, kept, header; ARGV value, id, pages, header json, keep, page key prefix.
 * Makes a fully written snapshot the newest (its pages lose their expiry), keeps `keep` snapshots and
 * deletes older ones. → {'ok'} | {'deposed', holder} | {'incomplete', missing page}
 */
const COMMIT_SNAPSHOT = `
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then return {'deposed', holder or ''} end
local pages = tonumber(ARGV[3])
for page = 0, pages - 1 do
  if redis.call('PERSIST', ARGV[6] .. ARGV[2] .. ':' .. page) == 0 and redis.call('EXISTS', ARGV[6] .. ARGV[2] .. ':' .. page) == 0 then
    return {'incomplete', tostring(page)}
  end
end
redis.call('SET', KEYS[4], ARGV[4])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[2])
while redis.call('LLEN', KEYS[3]) > tonumber(ARGV[5]) do
  local old = redis.call('RPOP', KEYS[3])
  local header = redis.call('GET', ARGV[6] .. old)
  if header then
    local oldPages = tonumber(cjson.decode(header).pages)
    for page = 0, oldPages - 1 do redis.call('UNLINK', ARGV[6] .. old .. ':' .. page) end
  end
  redis.call('UNLINK', ARGV[6] .. old)
end
return {'ok'}
`;

const SCRIPTS = {
  tenantProxyAcquire: { numberOfKeys: 2, lua: ACQUIRE },
  tenantProxyRenew: { numberOfKeys: 1, lua: RENEW },
  tenantProxyRelease: { numberOfKeys: 1, lua: RELEASE },
  tenantProxyAppend: { numberOfKeys: 3, lua: APPEND },
  tenantProxyTrim: { numberOfKeys: 4, lua: TRIM },
  tenantProxyReseed: { numberOfKeys: 3, lua: RESEED },
  tenantProxyRaiseFloor: { numberOfKeys: 1, lua: RAISE_FLOOR },
  tenantProxyCommitSnapshot: { numberOfKeys: 4, lua: COMMIT_SNAPSHOT },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type Script = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/** A script defined on `redis` (defineCommand: EVALSHA, with EVAL when the server lost the script). */
export function script(redis: Redis, name: ScriptName): Script {
  const commands = redis as unknown as Record<string, Script | undefined>;
  if (typeof commands[name] !== 'function') redis.defineCommand(name, SCRIPTS[name]);
  const defined = commands[name];
  if (typeof defined !== 'function') throw new Error(`ioredis did not define the script ${name}`);
  return defined.bind(redis);
}

/** A script's reply as [status, ...strings]; undefined when it has another shape. */
export function replyOf(reply: unknown): [string, ...string[]] | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const parts = reply.map((part) => (typeof part === 'number' ? String(part) : part));
  if (!parts.every((part): part is string => typeof part === 'string')) return undefined;
  const [status, ...rest] = parts;
  return status === undefined ? undefined : [status, ...rest];
}
