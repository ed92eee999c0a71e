"""Quota enforcement and usage metering at ingestion: one Redis script call per request.

Design note. Every ingestion request that got past authentication ends in `admit(...)` (or in
`count_refused(...)` when it is refused before): one EVALSHA that, atomically in Redis,
- reads the organization's accepted count of this billing period (seeded from PostgreSQL when
  the counter is missing — the first request of a month, or after Redis lost its data),
- decides by the plan's overage rule how many of the request's records to keep,
- adds the kept ones to the period counter, and
- adds every record of the request to the pending usage hash, once, under its outcome
  (accepted, or the reason it was dropped), keyed by org|project|signal|outcome|minute.
The usage flush task (apps.billing.usage) moves that hash into PostgreSQL idempotently.

Because the decision and the increment are one atomic step, concurrent requests cannot all slip
under the quota: at most the request that crosses the line is accepted past it.
A writer that stores many requests at once (the Sentry endpoint's group commit) admits them all
with `admit_many`: the same script deciding each request in turn, in one round trip. The script
reads each key once and writes it once per call (the state read stays in Lua tables between the
requests), and requests of the same organization, project, signal and key share their keys and
plan as one group of the call: a batch of one-event requests costs Redis a few commands in all
instead of six to eight per request, and the worker a short string per request.

A caller may fold a freshness check of its own into the round trip (`watch`): the script first
compares a key with the value the caller expects and, when it moved, admits and counts nothing
(WatchMoved). apps.ingestion checks the API keys' revocation epoch this way instead of with a
GET of its own per request.

The plan's limits come from apps.billing.state (process memory, no database query per request).
If the write then fails (503), `release` takes the kept records back out of both counters.
If Redis is unreachable, ingestion goes on (losing the meter must not lose data): the request is
admitted unmetered and the caller counts its accepted records in the write transaction instead
(apps.billing.usage.count_in_transaction), noting the minute as a metering gap.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings

from apps.billing import state
from apps.billing.models import Outcome, Overage
from apps.storage import redis as shared_redis

PENDING_KEY = "vigil:usage:pending"
METERING_FALLBACK = "billing metering from the write path"  # what the log says while Redis is down
RETRY_AFTER_MAX = 3600
COUNTER_TTL_SECONDS = 40 * 86400  # a period counter outlives its month, then goes by itself
# One script, one round trip per request — or per batch of requests (`admit_many`): the script
# decides its admissions one after another, each exactly as if it were alone.
# Rate limit first: the per-key token bucket of apps.ingestion.ratelimit (same key, the same Lua
# functions from apps.storage.redis), so it costs ingestion no round trip of its own. Then the
# overage rule, with the progressive throttle GlitchTip's hosted plans use: 10 % of each request
# dropped from 1x the quota, 50 % from 1.5x, everything from 2x.
#
# A batch of a group-commit writer is 32-200 requests of a few keys (one project, one DSN key),
# so the script reads each key once, keeps what it read in Lua tables while it decides request
# after request, and writes each key once at the end (`flush`): one INCRBY of the period counter,
# one HINCRBY per usage field, the bucket and the spike counter once with their expiries. Being
# one script, nothing runs between its reads and its writes: the counts are those of the requests
# one by one. The one difference: TIME is read once, so a batch's requests take their tokens at
# the same instant (they did within microseconds before).
#
# The call: KEYS = the distinct keys (KEYS[1] the pending usage hash); ARGV = minute, counter TTL,
# rate, burst, watch (an index into KEYS, 0: none), first_unrated ('1': the first request's tokens
# are taken already), the value expected at KEYS[watch], the requests in order (';'-separated,
# each "group n draw [reason count]...": its group, its records, its sampling draw and the records
# already dropped by validation or retention), then nine values per group — requests of one
# organization, project, signal and key: its counter, bucket (0: no rate limit), spike allowance
# and sent keys as indexes into KEYS, limit, overage, cap, usage field prefix, seed ('-': ask for
# one). Separate values rather than texts to split: Lua's string handling costs more than
# redis-py's packing of a few more arguments. The reply is flat, four integers per request: keep
# (-2: rate limited, -1: stopped, its counter needs a seed), used, seconds to wait (a string, as
# Lua prints the float, when rate limited), spiked; or {-3, the watched key's value} when it is
# not the expected one (nothing admitted or counted).
ADMIT = (
    shared_redis.TAKE_TOKENS
    + """
local minute, ttl, rate, burst = '|' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local watch, first_unrated = tonumber(ARGV[5]), ARGV[6] == '1'
local groups = {}
for at = 9, #ARGV, 9 do
  groups[#groups + 1] = {counter = tonumber(ARGV[at]), bucket = tonumber(ARGV[at + 1]),
    allowance = tonumber(ARGV[at + 2]), sent = tonumber(ARGV[at + 3]), limit = tonumber(ARGV[at + 4]),
    mode = ARGV[at + 5], cap = tonumber(ARGV[at + 6]), prefix = ARGV[at + 7], seed = ARGV[at + 8]}
end
local function field(g, outcome)  -- a group's usage field of an outcome, made once per call
  local name = g[outcome]
  if not name then
    name = g.prefix .. outcome .. minute
    g[outcome] = name
  end
  return name
end
-- One MGET for every key the decisions read (a command costs more than a key): the watched key,
-- and per group the period counter, the spike allowance and what the project sent this hour.
local wanted, position = {}, {}
local function want(index)
  if index > 0 and not position[index] then
    wanted[#wanted + 1] = KEYS[index]
    position[index] = #wanted
  end
end
want(watch)
for _, g in ipairs(groups) do
  want(g.counter)
  want(g.allowance)
  want(g.sent)
end
local got = redis.call('MGET', unpack(wanted))
if watch > 0 and (got[position[watch]] or '') ~= ARGV[7] then return {-3, got[position[watch]]} end
-- What the script read, by key index (a missing counter or allowance: false), and what it will
-- write.
local now, buckets, used, allowances, sent = nil, {}, {}, {}, {}
local kept, sent_added, fields = {}, {}, {}
for _, g in ipairs(groups) do
  used[g.counter] = tonumber(got[position[g.counter]] or '') or false
  allowances[g.allowance] = tonumber(got[position[g.allowance]] or '') or false
  sent[g.sent] = tonumber(got[position[g.sent]] or '') or 0
end
local function count(field, n)
  fields[field] = (fields[field] or 0) + n
end
local function flush()
  for index, bucket in pairs(buckets) do bucket_write(KEYS[index], bucket, rate, burst) end
  -- The totals the script arrived at (nothing else ran meanwhile: they are what the INCRBYs
  -- would have made); the counter keeps its TTL.
  for index in pairs(kept) do redis.call('SET', KEYS[index], used[index], 'KEEPTTL') end
  for index in pairs(sent_added) do redis.call('SET', KEYS[index], sent[index], 'EX', 7200) end
  for name, n in pairs(fields) do redis.call('HINCRBY', KEYS[1], name, n) end
end
local function take(index, cost)
  if not now then now = redis_now() end
  if not buckets[index] then buckets[index] = bucket_read(KEYS[index], burst, now) end
  return bucket_take(buckets[index], now, rate, burst, cost)
end
local out = {}
local function answer(keep, used_now, wait, spiked)
  local o = #out
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = keep, used_now, wait, spiked
end
-- A batch's requests are mostly alike ("1 1 0": group 1, one record, no draw): each text is
-- parsed only when it differs from the one before.
local i, last, g, n0, draw, drops, c = 0, nil, nil, 0, 0, nil, 0
local function count_drops()
  if drops then
    for reason, dropped in string.gmatch(drops, '(%S+) (%S+)') do
      count(g.prefix .. reason .. minute, tonumber(dropped))
    end
  end
end
for spec in string.gmatch(ARGV[8], '[^;]+') do
  i = i + 1
  if spec ~= last then
    local group, records, sample, rest = string.match(spec, '^(%S+) (%S+) (%S+)(.*)$')
    g, n0, draw, drops = groups[tonumber(group)], tonumber(records), tonumber(sample), nil
    if rest ~= '' then drops = rest end
    c, last = g.counter, spec
  end
  local n = n0
  local wait = 0
  if n > 0 and rate > 0 and g.bucket > 0 and not (i == 1 and first_unrated) then
    wait = take(g.bucket, n)
  end
  if wait > 0 then
    count(field(g, 'rate_limit'), n)
    count_drops()
    answer(-2, used[c] or 0, tostring(wait), 0)
  else
    if n > 0 and not used[c] then
      -- In order: stop here; the caller seeds the counter and goes on from this request (its
      -- tokens are taken), so every request sees those before it decided.
      if g.seed == '-' then
        flush()
        answer(-1, 0, 0, 0)
        return out
      end
      used[c] = tonumber(g.seed)
      redis.call('SET', KEYS[c], g.seed, 'EX', ttl)
    end
    local u = used[c] or 0
    -- Spike protection: KEYS[allowance] holds the records this project may send this hour (set
    -- by the baseline task, apps.billing.spikes; missing = off or not known yet), KEYS[sent] what
    -- it sent.
    local spiked = 0
    if n > 0 then
      local a = allowances[g.allowance]
      if a then
        local room = math.max(0, a - sent[g.sent])
        if room < n then
          spiked = n - room
          n = room
          count(field(g, 'spike'), spiked)
        end
        if n > 0 then
          sent[g.sent] = sent[g.sent] + n
          sent_added[g.sent] = true
        end
      end
    end
    local keep, limit, mode = n, g.limit, g.mode
    if n > 0 then
      if mode == 'block' then
        if u >= limit then keep = 0 end
      elseif mode == 'throttle' then
        local share = 0
        if u >= 2 * limit then share = 1
        elseif u >= 1.5 * limit then share = 0.5
        elseif u >= limit then share = 0.1 end
        keep = n - math.min(n, math.floor(n * share + draw))
      elseif mode == 'allow' then
        if g.cap >= 0 and u >= g.cap then keep = 0 end
      end
    end
    if keep > 0 then
      u = u + keep
      used[c] = u
      kept[c] = true
      count(field(g, 'accepted'), keep)
    end
    if n - keep > 0 then count(field(g, 'quota'), n - keep) end
    count_drops()
    answer(keep, u, 0, spiked)
  end
end
flush()
return out
"""
)


class WatchMoved(Exception):
    """The key `admit` was told to watch no longer holds the value expected (e.g. the API keys'
    revocation epoch moved): nothing was admitted or counted. `value` is what it holds now."""

    def __init__(self, value: bytes | None) -> None:
        super().__init__("watched key moved")
        self.value = value


@dataclass(slots=True)
class Admission:
    """What the quota decided for one request, and what its answer's headers say."""

    keep: int  # records to store
    dropped: int  # records dropped by the quota (throttled or refused)
    limit: int
    used: int  # accepted this period, including this request's kept records
    reset_at: datetime
    plan_name: str
    overage: str
    metered: bool = True  # False: Redis was unreachable, count in the write transaction
    rate_limited_for: int = 0  # > 0: the key's rate limit refused the request; seconds to wait
    spiked: int = 0  # records dropped by spike protection (before the quota saw them)
    project_id: int = 0
    field_prefix: str = ""
    minute: int = 0
    period_key: str = ""

    @property
    def refused(self) -> bool:
        """Nothing kept, because of the quota (`dropped`) or spike protection (`spiked`)."""
        return self.keep == 0 and (self.dropped > 0 or self.spiked > 0)

    @property
    def refused_by_spike(self) -> bool:
        return self.refused and self.dropped == 0

    def spike_retry_after(self, now: float | None = None) -> int:
        """Seconds to the next hour, when spike protection's allowance starts afresh."""
        seconds = 3600 - int(time.time() if now is None else now) % 3600
        return max(1, seconds)

    def spike_message(self) -> str:
        return (
            f"Spike protection: project {self.project_id} sent far more than its usual volume this hour; "
            f"{self.spiked} records dropped. It lifts at the next full hour (UTC), or when an admin "
            "turns spike protection off for the project."
        )

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return quota_headers(self.limit, self.remaining, self.reset_at)

    def retry_after(self, now: float | None = None) -> int:
        """Seconds to the next useful try: the period's end, but at most an hour (a plan change
        or an operator may lift the block before then)."""
        seconds = self.reset_at.timestamp() - (time.time() if now is None else now)
        return max(1, min(RETRY_AFTER_MAX, math.ceil(seconds)))

    def message(self) -> str:
        reset = self.reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        rule = "overage cap" if self.overage == Overage.ALLOW else "monthly event quota"
        return (
            f"The {rule} of the {self.plan_name} plan ({self.limit:,} events per month) is used up "
            f"({self.used:,} accepted this period); it resets at {reset}."
        )

    def details(self) -> dict[str, Any]:
        return {
            "quota": "events_per_month",
            "plan": self.plan_name,
            "limit": self.limit,
            "used": self.used,
            "overage": self.overage,
            "resets_at": self.reset_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dropped": self.dropped,
        }


def quota_headers(limit: int, remaining: int, reset_at: datetime) -> dict[str, str]:
    # Reset as Unix seconds, like the X-RateLimit-Reset headers clients already parse.
    return {
        "X-Vigil-Quota-Limit": str(limit),
        "X-Vigil-Quota-Remaining": str(remaining),
        "X-Vigil-Quota-Reset": str(int(reset_at.timestamp())),
    }


class _Meter:
    """What this process last saw of each organization's period count (the quota headers of
    answers given before `admit` ran). The client, its breaker and the script are
    apps.storage.redis'."""

    def __init__(self) -> None:
        self.last_used: dict[int, int] = {}  # org -> last period count seen

    def reset(self) -> None:
        """Forget the counts seen, and the Redis clients and breakers (tests)."""
        self.last_used.clear()
        shared_redis.reset()


meter = _Meter()


def counter_key(organization_id: int, period_key: str) -> str:
    return f"vigil:quota:used:{organization_id}:{period_key}"


def spike_keys(project_id: int, hour: int) -> tuple[str, str]:
    """(the project's allowance for the hour starting at `hour` (Unix seconds), what it sent)."""
    return f"vigil:spike:allow:{project_id}:{hour}", f"vigil:spike:sent:{project_id}:{hour}"


@dataclass(frozen=True)
class AdmitRequest:
    """One request's records for `admit_many`: the arguments of `admit`."""

    organization_id: int
    project_id: int
    signal: str
    n: int
    drops: dict[str, int] | None = None
    key_id: int | str | None = None


Watch = tuple[str, bytes | None]  # (a Redis key, the value the caller expects it to hold)


def admit(
    organization_id: int,
    project_id: int,
    signal: str,
    n: int,
    drops: dict[str, int] | None = None,
    key_id: int | str | None = None,
    watch: Watch | None = None,
) -> Admission:
    """Apply the key's rate limit (when `key_id` is given: an API key's id, or a bucket name of the
    caller's own such as apps.errors' per DSN key and category), decide how many of `n` records to
    keep, and count every record of the request once. `watch`: see `admit_many`."""
    return admit_many([AdmitRequest(organization_id, project_id, signal, n, drops, key_id)], watch)[0]


def admit_many(requests: Sequence[AdmitRequest], watch: Watch | None = None) -> list[Admission]:
    """`admit` for many requests in one Redis call (a group-commit writer's batch): each request
    is decided and counted exactly as if `admit` had been called for each in turn — its own rate
    limit, its own share of the quota (the request that crosses the line is the only one accepted
    past it), its own release — so a batch meters the same as the requests one by one. The
    caller's duties per Admission are those of `admit_records`. With Redis unreachable every
    Admission is unmetered. Raises DatabaseError only when a plan is not cached and PostgreSQL is
    down.

    `watch` = (key, expected value, None for a missing key): the script first compares that key,
    and when it holds anything else raises WatchMoved, having admitted and counted nothing — so a
    caller folds a check of its own cache's freshness into this round trip (apps.ingestion: the
    API keys' revocation epoch). Unchecked when Redis is unreachable (the caller's fallback)."""
    if not requests:
        return []
    call = _ScriptCall(state.minute_clock())
    admissions = [call.add(request) for request in requests]
    script = shared_redis.script(ADMIT)
    if script is None:  # the breaker is open
        for admission in admissions:
            admission.metered = False
        return admissions
    try:
        call.decide(script, watch)
    except redis.RedisError as exc:
        shared_redis.trip(exc, METERING_FALLBACK)
        for admission in admissions:
            admission.metered = False
    return admissions


# Key strings per (organization, project, signal, key, period, hour), kept between calls: most
# requests of a process come from a few keys, and each call would otherwise format five strings.
_GROUP_KEYS: dict[tuple[int, int, str, int | str | None, str, int], tuple[str, str, str, str, str]] = {}
_GROUP_KEYS_MAX = 10_000
# The keys and group of a call's first group, likewise (see `_ScriptCall._first_group`).
_FIRST_GROUPS: dict[
    tuple[tuple[int, int, str, int | str | None], str, int],
    tuple[state.OrgState, list[str], dict[str, int], _Group],
] = {}


def _group_keys(request: AdmitRequest, period_key: str, hour: int) -> tuple[str, str, str, str, str]:
    """(field prefix, period counter, bucket ('' without a key), spike allowance, spike sent)."""
    cache_key = (
        request.organization_id,
        request.project_id,
        request.signal,
        request.key_id,
        period_key,
        hour,
    )
    keys = _GROUP_KEYS.get(cache_key)
    if keys is None:
        if len(_GROUP_KEYS) >= _GROUP_KEYS_MAX:
            _GROUP_KEYS.clear()
        bucket = "" if request.key_id is None else f"vigil:ingest:bucket:{request.key_id}"
        keys = _GROUP_KEYS[cache_key] = (
            f"{request.organization_id}|{request.project_id}|{request.signal}|",
            counter_key(request.organization_id, period_key),
            bucket,
            *spike_keys(request.project_id, hour),
        )
    return keys


_GroupKey = tuple[int, int, str, int | str | None]  # organization, project, signal, key


@dataclass(frozen=True)
class _Group:
    """The requests of one call with the same organization, project, signal and key: their keys
    (as indexes into the call's KEYS), their plan, and their position in the call's groups."""

    index: int
    organization_id: int
    spec: tuple[int | str, ...]  # counter, bucket, allowance, sent, limit, overage, cap, prefix
    unseeded: tuple[int | str, ...]  # the spec and no seed ('-': ask for one)
    prefix: str
    limit: int
    plan_name: str
    overage: str
    throttles: bool


class _ScriptCall:
    """One ADMIT call being built: the distinct keys, the groups and the requests' arguments."""

    def __init__(self, clock: tuple[int, str, datetime]) -> None:
        self.minute, self.period_key, self.reset_at = clock
        self.hour = self.minute - self.minute % 3600
        self.keys: list[str] = [PENDING_KEY]
        self.key_index: dict[str, int] = {PENDING_KEY: 1}
        self.groups: dict[_GroupKey, _Group] = {}
        self.requests: list[tuple[_Group, AdmitRequest, Admission, str]] = []

    def _index(self, key: str) -> int:
        index = self.key_index.get(key)
        if index is None:
            self.keys.append(key)
            index = self.key_index[key] = len(self.keys)
        return index

    def _first_group(self, request: AdmitRequest, group_key: _GroupKey) -> _Group:
        """The call's first group: as a call of the same group made it before (the same keys in
        the same places), while the organization's cached plan is the same object."""
        org = state.for_organization(request.organization_id)
        made = _FIRST_GROUPS.get((group_key, self.period_key, self.hour))
        if made is not None and made[0] is org:
            self.keys, self.key_index = made[1].copy(), made[2].copy()
            return made[3]
        group = self._group(request, org)
        if len(_FIRST_GROUPS) >= _GROUP_KEYS_MAX:
            _FIRST_GROUPS.clear()
        _FIRST_GROUPS[(group_key, self.period_key, self.hour)] = (
            org,
            self.keys.copy(),
            self.key_index.copy(),
            group,
        )
        return group

    def _group(self, request: AdmitRequest, org: state.OrgState | None = None) -> _Group:
        prefix, counter, bucket, allowance, sent = _group_keys(request, self.period_key, self.hour)
        org = org or state.for_organization(request.organization_id)
        cap = org.overage_cap if org.overage == Overage.ALLOW and org.overage_cap is not None else -1
        indexes = [self._index(counter), self._index(bucket) if bucket else 0]
        indexes += [self._index(allowance), self._index(sent)]
        spec: tuple[int | str, ...] = (*indexes, org.events_per_month, str(org.overage), cap, prefix)
        return _Group(
            len(self.groups) + 1,
            request.organization_id,
            spec,
            (*spec, "-"),
            prefix,
            org.events_per_month,
            org.plan_name,
            org.overage,
            org.overage == Overage.THROTTLE,
        )

    def add(self, request: AdmitRequest) -> Admission:
        group_key = (request.organization_id, request.project_id, request.signal, request.key_id)
        group = self.groups.get(group_key)
        if group is None:
            made = self._group(request) if self.groups else self._first_group(request, group_key)
            group = self.groups[group_key] = made
        admission = Admission(
            keep=request.n,
            dropped=0,
            limit=group.limit,
            used=meter.last_used.get(request.organization_id, 0),
            reset_at=self.reset_at,
            plan_name=group.plan_name,
            overage=group.overage,
            field_prefix=group.prefix,
            minute=self.minute,
            period_key=self.period_key,
            project_id=request.project_id,
        )
        # The sampling draw matters to a throttling plan only.
        draw = random.random() if group.throttles else 0  # noqa: S311 - a sampling draw, not a secret
        text = f"{group.index} {request.n} {draw}"
        if request.drops:
            text += "".join(f" {reason} {count}" for reason, count in request.drops.items() if count > 0)
        self.requests.append((group, request, admission, text))
        return admission

    def decide(self, script: Any, watch: Watch | None) -> None:
        """Run the script: one EVALSHA, and one more after each organization whose period counter
        had to be seeded from PostgreSQL (the first request of a month, or after Redis lost its
        data). The script stops at such a request; it is decided again with the seed (without its
        rate limit: its tokens are taken), then the requests after it. Raises WatchMoved."""
        seeds: dict[int, str] = {}
        rate, burst = settings.INGEST_RATE_PER_SECOND, settings.INGEST_RATE_BURST
        watch_index, watched = 0, ""
        if watch is not None:
            watch_index, watched = self._index(watch[0]), (watch[1] or b"").decode()
        rest, first_unrated = self.requests, 0
        while rest:
            texts = rest[0][3] if len(rest) == 1 else ";".join([r[3] for r in rest])
            args: list[Any] = [self.minute, COUNTER_TTL_SECONDS, rate, burst, watch_index, first_unrated]
            args += (watched, texts)
            for g in self.groups.values():
                args += (*g.spec, seeds[g.organization_id]) if g.organization_id in seeds else g.unseeded
            reply = script(keys=self.keys, args=args)
            if reply[0] == -3:
                raise WatchMoved(reply[1])
            for (_, request, admission, _), at in zip(rest, range(0, len(reply), 4), strict=False):
                keep, used, wait, spiked = reply[at : at + 4]
                if keep != -1:
                    _decided(request, admission, keep, used, wait, spiked)
            if reply[-4] != -1:
                return
            rest = rest[len(reply) // 4 - 1 :]
            seeds[rest[0][0].organization_id] = _seed(rest[0][1].organization_id, self.minute)
            watch_index, first_unrated = 0, 1  # the watched key was as expected; its tokens are taken


def _decided(
    request: AdmitRequest, admission: Admission, keep: int, used: int, wait: Any, spiked: int
) -> None:
    if keep == -2:  # rate limited: nothing kept, all counted as rate_limit
        admission.keep, admission.used = 0, used
        admission.rate_limited_for = max(1, math.ceil(float(wait)))
    else:
        admission.keep, admission.used, admission.spiked = keep, used, spiked
        admission.dropped = request.n - spiked - keep
    meter.last_used[request.organization_id] = used


def _seed(organization_id: int, minute: int) -> str:
    """Accepted this period as PostgreSQL holds it, for the organization."""
    from apps.billing.usage import accepted_in_period

    return str(accepted_in_period(organization_id, datetime.fromtimestamp(minute, UTC)))


SIGNAL_NAME = re.compile(r"[a-z][a-z_]{0,15}")


def admit_records(project_id: int, signal: str, n: int, drops: dict[str, int] | None = None) -> Admission:
    """Check and meter `n` records of `signal` for a project: for ingestion paths other than
    apps.ingestion (the Sentry envelope endpoint of apps.errors), one Redis call as `admit`.

    `signal` names what the records are on the usage page and in the API (e.g. "errors",
    "transactions", "sessions"; lowercase, at most 16 characters); every accepted record counts
    toward the plan's monthly events. `drops`: records the caller already refused, by reason
    (Outcome values: "invalid", "too_large", "rate_limit", "retention"), counted, not stored.

    The caller must:
    - store only `admission.keep` records (all `n` unless the quota throttled or spike protection
      cut in; `admission.refused`: store none, answer 429 with `admission.retry_after()` or
      `spike_retry_after()` for `refused_by_spike`), and put `admission.headers()` on its answer;
    - call `release(admission)` if the write then fails (nothing stored, nothing counted);
    - when `admission.metered` is False (Redis unreachable): call
      `apps.billing.usage.count_in_transaction(org, project, signal, kept)` inside the transaction
      that stores the records, so accepted records are still counted exactly.
    Raises DatabaseError only when the plan is not cached and PostgreSQL is down (answer 503)."""
    if not SIGNAL_NAME.fullmatch(signal):
        raise ValueError(f"Not a signal name: {signal!r}")
    org = state.for_project(project_id)
    return admit(org.organization_id, project_id, signal, n, drops)


def count_refused(organization_id: int, project_id: int, signal: str, drops: dict[str, int]) -> Admission:
    """Count the records of a request refused before the quota (all invalid, too many, rate
    limited): nothing is kept, nothing enters the period counter."""
    return admit(organization_id, project_id, signal, 0, drops)


def release(admission: Admission, organization_id: int | None = None) -> None:
    """The write failed after `admit` counted its records as accepted: take them back out (the
    request is answered 503 and the client retries; a retry is counted when it succeeds)."""
    if not admission.metered or not admission.keep:
        return
    client = shared_redis.available_client()
    if client is None:
        return
    organization_id = organization_id or int(admission.field_prefix.split("|", 1)[0])
    minute = f"|{admission.minute}"
    sent = spike_keys(admission.project_id, admission.minute - admission.minute % 3600)[1]
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.decrby(counter_key(organization_id, admission.period_key), admission.keep)
            pipe.decrby(sent, admission.keep)
            # The key may not have existed (spike protection off): it goes with the hour all the same.
            pipe.expire(sent, 7200)
            pipe.hincrby(PENDING_KEY, f"{admission.field_prefix}{Outcome.ACCEPTED}{minute}", -admission.keep)
            pipe.execute()
    except redis.RedisError as exc:
        shared_redis.trip(exc, METERING_FALLBACK)


def headers_for(organization_id: int) -> dict[str, str]:
    """Quota headers for an answer given before `admit` ran (a malformed body, a wrong type):
    from the cached plan and the last count this process saw — no I/O."""
    try:
        org = state.for_organization(organization_id)
    except Exception:  # the database is down: the answer (503) goes out without them
        return {}
    _, _, reset_at = state.minute_clock()
    used = meter.last_used.get(organization_id, 0)
    return quota_headers(org.events_per_month, max(0, org.events_per_month - used), reset_at)


# --- A read-only check, for callers that meter elsewhere ---------------------------------------


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    reason: str = ""
    retry_after: int | None = None  # seconds; set when waiting helps (the next period, a plan change)


ALLOWED = QuotaDecision(allowed=True)


def check(project_id: int, n_events: int) -> QuotaDecision:
    """Whether the project's organization may ingest `n_events` more events now, by its plan's
    overage rule and this period's count in Redis. Counts nothing. Never raises: with Redis or the
    plan unreachable the answer is yes (losing the meter must not lose data)."""
    try:
        org = state.for_project(project_id)
    except Exception:
        return ALLOWED
    client = shared_redis.available_client() if n_events > 0 else None
    if client is None:
        return ALLOWED
    _, period_key, reset_at = state.minute_clock()
    try:
        raw = client.get(counter_key(org.organization_id, period_key))
    except redis.RedisError as exc:
        shared_redis.trip(exc, METERING_FALLBACK)
        return ALLOWED
    used = int(raw or 0)
    limit = org.events_per_month
    if org.overage == Overage.ALLOW:
        full = org.overage_cap is not None and used >= org.overage_cap
    elif org.overage == Overage.THROTTLE:
        full = used >= 2 * limit
    else:
        full = used >= limit
    if not full:
        return ALLOWED
    admission = Admission(0, n_events, limit, used, reset_at, org.plan_name, org.overage)
    return QuotaDecision(allowed=False, reason=admission.message(), retry_after=admission.retry_after())
