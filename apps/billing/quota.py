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
with `admit_many`: the same script deciding each request in turn, in one round trip.

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
from dataclasses import dataclass, field
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
# decides its admissions one after another, each exactly as if it were alone. Each admission
# travels as five keys and four strings (fewer to encode on the hot path): A[1] = "limit overage
# cap n minute draw ttl rate burst", A[2] = the seed for a missing period counter ('' = ask),
# A[3] = the field prefix "org|project|signal|", A[4] = "reason count ..." for records already
# dropped by validation or retention; K = the period counter, the pending usage hash, the key's
# bucket and the two spike keys.
# Rate limit first: the per-key token bucket of apps.ingestion.ratelimit (same key, the same Lua
# function from apps.storage.redis), so it costs ingestion no round trip of its own. Then the
# overage rule, with the progressive throttle GlitchTip's hosted plans use: 10 % of each request
# dropped from 1x the quota, 50 % from 1.5x, everything from 2x.
ADMIT = (
    shared_redis.TAKE_TOKENS
    + """
local function admit(K, A)
  local a = {}
  for v in string.gmatch(A[1], '%S+') do a[#a + 1] = v end
  local limit, mode, cap, n = tonumber(a[1]), a[2], tonumber(a[3]), tonumber(a[4])
  local minute, draw, ttl, rate = '|' .. a[5], tonumber(a[6]), tonumber(a[7]), tonumber(a[8])
  local prefix = A[3]
  local function count_drops()
    local reason = nil
    for v in string.gmatch(A[4], '%S+') do
      if reason then
        redis.call('HINCRBY', K[2], prefix .. reason .. minute, v)
        reason = nil
      else
        reason = v
      end
    end
  end
  if n > 0 and rate > 0 then
    local wait = take_tokens(K[3], rate, tonumber(a[9]), n)
    if wait > 0 then
      redis.call('HINCRBY', K[2], prefix .. 'rate_limit' .. minute, n)
      count_drops()
      return {-2, tonumber(redis.call('GET', K[1]) or 0), tostring(wait)}
    end
  end
  local used = redis.call('GET', K[1])
  if n > 0 and not used then
    if A[2] == '' then return {-1, 0, '0'} end
    used = A[2]
    redis.call('SET', K[1], used, 'EX', ttl)
  end
  used = tonumber(used) or 0
  -- Spike protection: K[4] holds the records this project may send this hour (set by the
  -- baseline task, apps.billing.spikes; missing = off or not known yet), K[5] what it sent.
  local spiked = 0
  if n > 0 then
    local allowance = redis.call('GET', K[4])
    if allowance then
      local room = math.max(0, tonumber(allowance) - tonumber(redis.call('GET', K[5]) or 0))
      if room < n then
        spiked = n - room
        n = room
        redis.call('HINCRBY', K[2], prefix .. 'spike' .. minute, spiked)
      end
      if n > 0 then
        redis.call('INCRBY', K[5], n)
        redis.call('EXPIRE', K[5], 7200)
      end
    end
  end
  local keep = n
  if n > 0 then
    if mode == 'block' then
      if used >= limit then keep = 0 end
    elseif mode == 'throttle' then
      local share = 0
      if used >= 2 * limit then share = 1
      elseif used >= 1.5 * limit then share = 0.5
      elseif used >= limit then share = 0.1 end
      keep = n - math.min(n, math.floor(n * share + draw))
    elseif mode == 'allow' then
      if cap >= 0 and used >= cap then keep = 0 end
    end
  end
  if keep > 0 then
    used = redis.call('INCRBY', K[1], keep)
    redis.call('HINCRBY', K[2], prefix .. 'accepted' .. minute, keep)
  end
  if n - keep > 0 then
    redis.call('HINCRBY', K[2], prefix .. 'quota' .. minute, n - keep)
  end
  count_drops()
  return {keep, used, '0', spiked}
end
-- In order; stopping at an admission that needs its counter seeded ({-1, ...}, last): the caller
-- seeds it and goes on from there, so every admission sees those before it decided.
local out = {}
for i = 0, #ARGV / 4 - 1 do
  local k, a = 5 * i, 4 * i
  out[i + 1] = admit({KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]},
                     {ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]})
  if out[i + 1][1] == -1 then break end
end
return out
"""
)


@dataclass
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
    extra: dict[str, str] = field(default_factory=dict)

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


def admit(
    organization_id: int,
    project_id: int,
    signal: str,
    n: int,
    drops: dict[str, int] | None = None,
    key_id: int | str | None = None,
) -> Admission:
    """Apply the key's rate limit (when `key_id` is given: an API key's id, or a bucket name of the
    caller's own such as apps.errors' per DSN key and category), decide how many of `n` records to
    keep, and count every record of the request once."""
    return admit_many([AdmitRequest(organization_id, project_id, signal, n, drops, key_id)])[0]


def admit_many(requests: Sequence[AdmitRequest]) -> list[Admission]:
    """`admit` for many requests in one Redis call (a group-commit writer's batch): each request
    is decided and counted exactly as if `admit` had been called for each in turn — its own rate
    limit, its own share of the quota (the request that crosses the line is the only one accepted
    past it), its own release — so a batch meters the same as the requests one by one. The
    caller's duties per Admission are those of `admit_records`. With Redis unreachable every
    Admission is unmetered. Raises DatabaseError only when a plan is not cached and PostgreSQL is
    down."""
    if not requests:
        return []
    clock = state.minute_clock()
    calls = [_Call.of(request, clock) for request in requests]
    script = shared_redis.script(ADMIT)
    if script is None:  # the breaker is open
        for call in calls:
            call.admission.metered = False
        return [call.admission for call in calls]
    try:
        replies = _decide(script, calls)
    except redis.RedisError as exc:
        shared_redis.trip(exc, METERING_FALLBACK)
        for call in calls:
            call.admission.metered = False
        return [call.admission for call in calls]
    for call, reply in zip(calls, replies, strict=True):
        call.decided(reply)
    return [call.admission for call in calls]


@dataclass
class _Call:
    """One admission on its way through the script: its keys, and its arguments but the seed
    and the rate."""

    request: AdmitRequest
    admission: Admission
    keys: list[str]
    head: str

    @classmethod
    def of(cls, request: AdmitRequest, clock: tuple[int, str, datetime]) -> _Call:
        minute, period_key, reset_at = clock
        org = state.for_organization(request.organization_id)
        admission = Admission(
            keep=request.n,
            dropped=0,
            limit=org.events_per_month,
            used=meter.last_used.get(request.organization_id, 0),
            reset_at=reset_at,
            plan_name=org.plan_name,
            overage=org.overage,
            field_prefix=f"{request.organization_id}|{request.project_id}|{request.signal}|",
            minute=minute,
            period_key=period_key,
            project_id=request.project_id,
        )
        cap = org.overage_cap if org.overage == Overage.ALLOW and org.overage_cap is not None else -1
        draw = random.random()  # noqa: S311 - a sampling draw, not a secret
        keys = [
            counter_key(request.organization_id, period_key),
            PENDING_KEY,
            f"vigil:ingest:bucket:{request.key_id}",
            *spike_keys(request.project_id, minute - minute % 3600),
        ]
        head = f"{admission.limit} {org.overage} {cap} {request.n} {minute} {draw} {COUNTER_TTL_SECONDS}"
        return cls(request, admission, keys, head)

    def args(self, seed: str, rated: bool) -> list[str]:
        rate = settings.INGEST_RATE_PER_SECOND if rated and self.request.key_id is not None else 0
        drops = (self.request.drops or {}).items()
        dropped = " ".join(f"{reason} {count}" for reason, count in drops if count > 0)
        return [
            f"{self.head} {rate} {settings.INGEST_RATE_BURST}",
            seed,
            self.admission.field_prefix,
            dropped,
        ]

    def decided(self, reply: list[Any]) -> None:
        keep, used, wait, *rest = reply
        admission = self.admission
        if keep == -2:  # rate limited: nothing kept, all counted as rate_limit
            admission.keep, admission.used = 0, int(used)
            admission.rate_limited_for = max(1, math.ceil(float(wait)))
        else:
            admission.keep, admission.used = int(keep), int(used)
            admission.spiked = int(rest[0]) if rest else 0
            admission.dropped = self.request.n - admission.spiked - admission.keep
        meter.last_used[self.request.organization_id] = admission.used


def _decide(script: Any, calls: list[_Call]) -> list[Any]:
    """The script's reply for each of `calls`: one EVALSHA, and one more after each organization
    whose period counter had to be seeded from PostgreSQL (the first request of a month, or after
    Redis lost its data). The script stops at such a request; it is decided again with the seed
    (and rate 0: its tokens are taken), then the requests after it."""
    replies: list[Any] = []
    seeds: dict[int, str] = {}
    rest, rated = calls, True
    while rest:
        keys: list[str] = []
        args: list[str] = []
        for index, call in enumerate(rest):
            keys += call.keys
            args += call.args(seeds.get(call.request.organization_id, ""), rated or index > 0)
        got = list(script(keys=keys, args=args))
        if got[-1][0] != -1:
            return replies + got
        replies += got[:-1]
        rest, rated = rest[len(got) - 1 :], False
        seeds[rest[0].request.organization_id] = _seed(rest[0])
    return replies


def _seed(call: _Call) -> str:
    """Accepted this period as PostgreSQL holds it, for the organization of `call`."""
    from apps.billing.usage import accepted_in_period

    now = datetime.fromtimestamp(call.admission.minute, UTC)
    return str(accepted_in_period(call.request.organization_id, now))


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
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.decrby(counter_key(organization_id, admission.period_key), admission.keep)
            pipe.decrby(
                spike_keys(admission.project_id, admission.minute - admission.minute % 3600)[1],
                admission.keep,
            )
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
