"""Crawling past one machine: several `jinjian crawl --frontier redis://…` processes share one
frontier on Redis, through scrapy-redis (its scheduler, priority queue and dupefilter).

What scrapy-redis alone does, and what is added here:

- Its ``PriorityQueue.pop`` removes a request from Redis (ZRANGE + ZREMRANGEBYRANK): a worker
  killed after the pop loses every request it had popped and not finished, and the items its
  store pipeline had not written yet; and its ``Scheduler.close`` deletes the queue and the
  dupefilter unless ``SCHEDULER_PERSIST`` (one worker closing would wipe the others' frontier).
  ``LeasedQueue`` pops atomically (one Lua script) into a *lease*: the request's bytes stay in
  Redis under a lease id with a deadline (Redis' own clock, the same for every machine). The
  worker renews its leases every ``lease / 3`` s while it works on them, and returns a lease
  (``ack``) only when the request has left Scrapy's engine (its callback or errback ran and its
  items went through the pipelines) *and* the store pipeline has flushed since: until then the
  page's documents may still sit in the pipeline's buffer. The renewal runs in a thread of its
  own: a worker busy for a while (loading the model, waiting for the store's write lock) keeps
  its leases, and only a worker that died (or hangs as a whole process) stops renewing;
  once its leases expire, any other worker puts those requests back in the queue (another Lua
  script), where the next free worker takes them. A killed worker's pages are so fetched again,
  never lost; a page may be fetched twice then (documents are keyed by URL: written once).
- scrapy-redis spiders wait forever when the queue is empty. Here a worker's spider closes when
  the run is seeded, the shared queue is empty and no lease is out (no worker has work in
  flight); while other workers still hold leases it waits, polling every second.
- Per-target budgets across workers (``SharedBudgets``): the target's page URLs, its landing
  pages and its body hashes are Redis sets (one Lua script checks and claims a place
  atomically), so ``max_pages`` and the landing-page limit hold for the run as a whole, and a
  page served under two URLs is indexed once whichever workers fetch them. ``max_depth`` and
  the URL-pattern guard travel with each request (its depth and its pattern run are in its
  meta), so they hold whichever worker takes it.

A run: the first worker of a targets file (and store) takes ``jinjian:<ns>:run`` (SET NX) and so
names the run; every worker started while it exists joins that run. For each spider (target
kind), the worker that takes the seed lock (SET NX, 60 s) yields the start requests and marks
the spider seeded; the others yield none and wait for the queue. When every spider of the run
finished, the worker that sees it deletes the run's name, so the next night's first worker
starts a new run; the run's keys expire a day later. A run whose workers all died stays in Redis:
the next workers started with the same targets take it over (expired leases go back to the
queue), as the journal does in the single-process mode; so under ``--frontier`` the journal
is off, and Redis is the only state.

Not shared: what each worker's report counts (pages, ads, errors per target are those it
fetched; add the workers' reports for the run's totals).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, ScrapyDeprecationWarning
from scrapy_redis.queue import PriorityQueue
from twisted.internet import task

from crawlers.incremental import store_pipeline

logger = logging.getLogger(__name__)
# scrapy-redis 0.9 still passes ``spider=`` to the stats collector: noise in every worker's log
warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning, module="scrapy_redis")

RUN_TTL = 24 * 3600  # a finished run's keys are kept this long (seconds)
SEED_LOCK_SECONDS = 60
DEFAULT_LEASE = float(os.environ.get("JINJIAN_FRONTIER_LEASE", "60"))


class FrontierError(Exception):
    """A --frontier value that is no Redis URL, or a Redis that does not answer."""


def check_url(url: str) -> str:
    """``redis://HOST:PORT/DB`` (``rediss://`` for TLS); raises FrontierError naming the value."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise FrontierError(f"--frontier {url}: expected redis://HOST:PORT/DB")
    try:
        port = parts.port
    except ValueError:
        raise FrontierError(f"--frontier {url}: the port is not a number") from None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise FrontierError(f"--frontier {url}: the database {db!r} is not a number")
    if port == 0:
        raise FrontierError(f"--frontier {url}: port 0")
    return url


def connect(url: str) -> redis.Redis:
    server = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                  retry_on_timeout=True)
    try:
        server.ping()
    except redis.RedisError as exc:
        raise FrontierError(f"--frontier {url}: Redis does not answer ({exc})") from None
    return server


# --- the run ----------------------------------------------------------------------------------

@dataclass
class Run:
    """The run this worker joined: its name and start, and the keys of its frontier."""

    url: str
    namespace: str  # digest of the targets (and store): the same targets → the same runs
    id: str
    started: str
    seeder: bool  # this worker named the run

    @property
    def prefix(self) -> str:
        return f"jinjian:{self.namespace}:{self.id}"

    def settings(self, lease: float = DEFAULT_LEASE) -> dict[str, Any]:
        """The Scrapy settings of a worker of this run."""
        return {
            "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
            "SCHEDULER_QUEUE_CLASS": "crawlers.frontier.LeasedQueue",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_QUEUE_KEY": f"{self.prefix}:%(spider)s:requests",
            "SCHEDULER_DUPEFILTER_KEY": f"{self.prefix}:%(spider)s:dupefilter",
            "SCHEDULER_PERSIST": True,  # the last worker, not the first to close, ends the run
            "REDIS_URL": self.url,
            "JINJIAN_FRONTIER_PREFIX": self.prefix,
            "JINJIAN_FRONTIER_LEASE": lease,
            "EXTENSIONS": {"crawlers.frontier.FrontierExtension": 500},
        }

    def finish(self, spiders: list[str]) -> bool:
        """After this worker's spiders finished: end the run when every spider of it is done
        (the next worker then starts a new run). True when this call ended it."""
        server = connect(self.url)
        if not all(server.exists(f"{self.prefix}:{name}:done") for name in spiders):
            return False
        key = f"jinjian:{self.namespace}:run"
        ended = bool(server.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
            "end return 0", 1, key, json.dumps({"id": self.id, "started": self.started})))
        for name in server.scan_iter(f"{self.prefix}:*"):
            server.expire(name, RUN_TTL)
        return ended


def join_run(url: str, namespace: str) -> Run:
    """Join the current run of these targets on the frontier at ``url``, or start one."""
    server = connect(url)
    key = f"jinjian:{namespace}:run"
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mine = json.dumps({"id": f"{started.replace(':', '')}-{uuid.uuid4().hex[:8]}",
                       "started": started})
    seeder = bool(server.set(key, mine, nx=True))
    current = json.loads(mine if seeder else server.get(key) or mine)
    return Run(url, namespace, current["id"], current["started"], seeder)


# --- the leased queue -------------------------------------------------------------------------

# KEYS: queue, leases (zset id → deadline), leased (hash id → request), scores (hash id → score),
# sequence. ARGV: lease seconds. Pop the best request into a lease; {id, request} or nil.
_POP = """
local found = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #found == 0 then return nil end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
local id = tostring(redis.call('INCR', KEYS[5]))
local now = redis.call('TIME')
redis.call('HSET', KEYS[3], id, found[1])
redis.call('HSET', KEYS[4], id, found[2])
redis.call('ZADD', KEYS[2], now[1] + tonumber(ARGV[1]), id)
return {id, found[1]}
"""

# KEYS: leases. ARGV: lease seconds, ids. Move the deadline of the leases still held.
_RENEW = """
local now = redis.call('TIME')
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now[1] + tonumber(ARGV[1]), ARGV[i]) end
return 0
"""

# KEYS: queue, leases, leased, scores. Put the requests of expired leases back in the queue.
_REQUEUE = """
local now = redis.call('TIME')
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now[1])
for _, id in ipairs(expired) do
  local data = redis.call('HGET', KEYS[3], id)
  if data then redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[4], id) or 0, data) end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
end
return #expired
"""

_QUEUES: dict[int, LeasedQueue] = {}  # id(spider) → its queue, for FrontierExtension


class LeasedQueue(PriorityQueue):
    """scrapy-redis' priority queue whose pop leases a request instead of removing it."""

    def __init__(self, server: redis.Redis, spider: Spider, key: str,
                 serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        self.lease = spider.crawler.settings.getfloat("JINJIAN_FRONTIER_LEASE", DEFAULT_LEASE)
        self.keys = [self.key, f"{self.key}:leases", f"{self.key}:leased",
                     f"{self.key}:scores", f"{self.key}:seq"]
        self.held: dict[str, Request] = {}  # lease id → the request, while this worker has it
        self._pop = server.register_script(_POP)
        self._renew = server.register_script(_RENEW)
        self._requeue = server.register_script(_REQUEUE)
        _QUEUES[id(spider)] = self

    def pop(self, timeout: int = 0) -> Request | None:
        found = self._pop(keys=self.keys, args=[self.lease])
        if not found:
            return None
        lease, data = found
        request = self._decode_request(data)
        self.held[lease.decode() if isinstance(lease, bytes) else str(lease)] = request
        return request

    def ack(self, leases: list[str]) -> None:
        """The requests of ``leases`` are done: their documents are in the store."""
        if not leases:
            return
        for lease in leases:
            self.held.pop(lease, None)
        pipe = self.server.pipeline()
        pipe.zrem(self.keys[1], *leases)
        pipe.hdel(self.keys[2], *leases)
        pipe.hdel(self.keys[3], *leases)
        pipe.execute()

    def renew(self) -> None:
        held = list(self.held.copy())
        if held:
            self._renew(keys=[self.keys[1]], args=[self.lease, *held])

    def requeue_expired(self) -> int:
        """Put the requests of expired leases (of workers gone) back; how many."""
        return int(self._requeue(keys=self.keys[:4]))

    def leases_out(self) -> int:
        """Leases held by any worker: requests in flight somewhere."""
        return int(self.server.zcard(self.keys[1]))

    def clear(self) -> None:
        self.server.delete(*self.keys)


# --- budgets shared by the workers ------------------------------------------------------------

# KEYS: the set of claimed URLs. ARGV: url, limit. 1 claimed, 0 claimed before, -1 no place left.
_CLAIM = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""


class SharedBudgets:
    """A target's page budget, landing-page limit and body hashes, for all workers at once."""

    def __init__(self, server: redis.Redis, prefix: str) -> None:
        self.server = server
        self.prefix = prefix
        self._claim = server.register_script(_CLAIM)

    def _key(self, index: int, what: str) -> str:
        return f"{self.prefix}:target{index}:{what}"

    def claim(self, index: int, what: str, url: str, limit: int) -> str:
        """``"ok"``: the URL takes one of the ``limit`` places of ``what`` (pages, landings) of
        target ``index``; ``"seen"``: some worker claimed it before; ``"full"``: none left."""
        result = int(self._claim(keys=[self._key(index, what)], args=[url, limit]))
        return {1: "ok", 0: "seen", -1: "full"}[result]

    def first_url(self, index: int, body_hash: str, url: str) -> str:
        """The first URL (of any worker) that served this body for target ``index``."""
        key = self._key(index, "bodies")
        self.server.hsetnx(key, body_hash, url)
        first = self.server.hget(key, body_hash)
        return first.decode() if isinstance(first, bytes) else str(first or url)


def shared_budgets(crawler: Crawler) -> SharedBudgets | None:
    """The shared budgets of a worker's spider; None when the crawl has no frontier."""
    prefix = crawler.settings.get("JINJIAN_FRONTIER_PREFIX")
    if not prefix:
        return None
    return SharedBudgets(connect(crawler.settings.get("REDIS_URL")), f"{prefix}:{crawler.spidercls.name}")


def take_seed(crawler: Crawler, spider_name: str) -> bool:
    """True for the one worker that seeds this spider's start URLs in the run (always True
    without a frontier)."""
    prefix = crawler.settings.get("JINJIAN_FRONTIER_PREFIX")
    if not prefix:
        return True
    server = connect(crawler.settings.get("REDIS_URL"))
    if server.exists(f"{prefix}:{spider_name}:seeded"):
        return False
    return bool(server.set(f"{prefix}:{spider_name}:seed-lock", "1", nx=True,
                           ex=SEED_LOCK_SECONDS))


def mark_seeded(crawler: Crawler, spider_name: str) -> None:
    prefix = crawler.settings.get("JINJIAN_FRONTIER_PREFIX")
    if prefix:
        connect(crawler.settings.get("REDIS_URL")).set(f"{prefix}:{spider_name}:seeded", "1")


# --- leases, acks and the end of the run --------------------------------------------------------

class FrontierExtension:
    """Renews this worker's leases, returns them once their pages are stored, puts back the
    requests of dead workers, and keeps the spider open while any worker has work in flight."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.prefix = crawler.settings.get("JINJIAN_FRONTIER_PREFIX")
        self.lease = crawler.settings.getfloat("JINJIAN_FRONTIER_LEASE", DEFAULT_LEASE)
        self.server = connect(crawler.settings.get("REDIS_URL"))
        self.done: dict[str, int] = {}  # lease id → StorePipeline.mark() when it left the engine
        self.loop: task.LoopingCall | None = None
        self.spider: Spider | None = None
        self.stopping = threading.Event()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierExtension:
        ext = cls(crawler)
        crawler.signals.connect(ext.opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    @property
    def queue(self) -> LeasedQueue | None:
        return _QUEUES.get(id(self.spider))

    def opened(self, spider: Spider) -> None:
        self.spider = spider
        self.loop = task.LoopingCall(self.beat)
        self.loop.start(max(0.2, min(1.0, self.lease / 3)), now=False)
        threading.Thread(target=self._renew_leases, name="frontier-leases", daemon=True).start()

    def _renew_leases(self) -> None:
        """While the process lives, its leases do: renewed every third of the lease time."""
        while not self.stopping.wait(self.lease / 3):
            queue = self.queue
            try:
                if queue is not None:
                    queue.renew()
            except redis.RedisError as exc:
                logger.warning("frontier: cannot renew the leases (%s); trying again", exc)

    def beat(self) -> None:
        """Every second at most: return finished leases, recover expired ones (of workers
        gone), and let the engine look at the queue again (it only polls every 5 s itself)."""
        queue = self.queue
        if queue is None:
            return
        try:
            self._settle(queue)
            recovered = queue.requeue_expired()
        except redis.RedisError as exc:
            logger.warning("frontier: Redis did not answer (%s); trying again", exc)
            return
        if recovered:
            logger.info("frontier: %d requests of a worker gone put back in the queue", recovered)
            self.crawler.stats.inc_value("jinjian/frontier/recovered", recovered)
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    def _settle(self, queue: LeasedQueue) -> None:
        pipeline = store_pipeline(self.crawler)
        stored = pipeline.stored() if pipeline is not None else 0
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is None:
            return  # cannot tell what is in flight: hold every lease until the spider closes
        inprogress = slot.inprogress
        for lease, request in list(queue.held.items()):
            if lease not in self.done and request not in inprogress:
                # stored once what the pipeline has received so far is
                self.done[lease] = pipeline.mark() if pipeline is not None else 0
        ready = [lease for lease, at in self.done.items() if pipeline is None or stored >= at]
        for lease in ready:
            del self.done[lease]
        queue.ack(ready)

    def idle(self, spider: Spider) -> None:
        queue = self.queue
        if queue is None:
            return
        pipeline = store_pipeline(self.crawler)
        if pipeline is not None:
            pipeline.flush()  # what this worker fetched is stored: its leases can go back
        self._settle(queue)
        if not self.server.exists(f"{self.prefix}:{spider.name}:seeded"):
            if take_seed(self.crawler, spider.name):  # the seeder died before it seeded
                for request in spider.start_requests():
                    self.crawler.engine.crawl(request)
                mark_seeded(self.crawler, spider.name)
            raise DontCloseSpider
        if len(queue) or queue.leases_out():
            queue.requeue_expired()
            raise DontCloseSpider
        self.server.set(f"{self.prefix}:{spider.name}:done", "1")

    def closed(self, spider: Spider, reason: str) -> None:
        self.stopping.set()
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        queue = self.queue
        if queue is not None and reason == "finished":
            queue.ack(list(queue.held))
        _QUEUES.pop(id(spider), None)
