"""Elasticsearch and OpenSearch backends: one implementation over the REST API both speak.

A store is four indices behind aliases, ``PREFIX-documents``, ``PREFIX-hits``, ``PREFIX-sites``
and ``PREFIX-nightly`` (runs, tips and re-checks; ``PREFIX`` is the URL's path, ``jinjian`` by
default), each a versioned index
(``PREFIX-hits-000001``…) created from an index template that carries the mappings. A hit repeats
its document's filter fields and jieba words, so that every staff query is one search.

Only API that Elasticsearch 8/9, OpenSearch 1–3 and the test emulators (noida-db, osmem-server)
all serve is used: index templates, aliases, bulk with ``if_seq_no`` / ``if_primary_term``,
``_mget``, bool / term / terms / range / match queries, ``search_after``, terms, max and
date_histogram aggregations. No scripts (painless), no point-in-time, no ``_update_by_query`` /
``_delete_by_query``, no composite aggregation, no sort on ``_id``: what they would do is done
client-side.

elasticsearch-py and opensearch-py are used as transports only (``perform_request``) with plain
``application/json``, so any 8.x or 9.x elasticsearch-py talks to Elasticsearch 8 and 9 alike.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from indexer import text as fulltext
from indexer.base import (
    AuditEntry,
    Document,
    DocumentVersion,
    Hit,
    HitQuery,
    NightlyRecord,
    PreparedWrite,
    Progress,
    QueryError,
    Rejected,
    SiteRecord,
    Store,
    StoredDocument,
    StoredHit,
    StoreError,
    StoreUnavailable,
    UnknownHit,
    WriteReport,
    check_transition,
    hit_id,
    merge_document,
    merge_hit,
    merge_site,
    normalise_time,
    now,
    public_evidence,
    slug_of,
    time_bounds,
)
from indexer.nightly import RECORDS_BATCH

MAPPING_VERSION = 1
KINDS = ("documents", "hits", "sites", "nightly")
KEY_FIELD = {"documents": "id", "hits": "id", "sites": "site", "nightly": "rid"}
DENORM = ("site", "kind", "region", "doc_type", "url", "landing_url")
MAX_WINDOW = 10_000  # from + size limit of every backend
PAGE = 1000

_K = {"type": "keyword"}
_DATE = {"type": "date"}
_OFF = {"type": "object", "enabled": False}
_SEG = {"type": "text", "analyzer": "whitespace"}

MAPPINGS: dict[str, dict[str, Any]] = {
    "documents": {
        "id": _K, "doc_type": _K, "url": _K, "site": _K, "kind": _K, "region": _K,
        "title": {"type": "text"}, "text": {"type": "text"}, "text_seg": _SEG,
        "content_hash": _K, "landing_url": _K, "advertiser": _K,
        "image_url": {"type": "keyword", "index": False}, "ad_kind": _K, "position": _K,
        "icp": _K, "status_code": {"type": "integer"}, "extra": _OFF, "screening": _OFF,
        "screening_sets": _K, "fetched_at": _DATE, "first_seen": _DATE, "last_seen": _DATE,
        "versions": _OFF, "updated_ms": {"type": "long"}, "warc": _OFF,
    },
    "hits": {
        "id": _K, "doc_id": _K, "category": _K, "slug": _K, "score": {"type": "double"},
        "evidence": _OFF, "first_seen": _DATE, "last_seen": _DATE, "status": _K,
        "reviewed_at": _DATE, "reviewed_by": _K, "audit": _OFF, "site": _K, "kind": _K,
        "region": _K, "doc_type": _K, "url": _K, "landing_url": _K, "text_seg": _SEG,
        "updated_ms": {"type": "long"},
    },
    "sites": {
        "site": _K, "kind": _K, "region": _K, "icp": _K, "operator": _K,
        "first_seen": _DATE, "last_seen": _DATE, "updated_ms": {"type": "long"},
    },
    "nightly": {  # indexer.nightly: one run, tip or re-check per document, id "kind:key"
        "rid": _K, "kind": _K, "key": _K, "at": _DATE, "site": _K, "body": _OFF,
        "updated_ms": {"type": "long"},
    },
}


def index_template(alias: str, kind: str) -> dict[str, Any]:
    """The index template for the versioned indices behind ``alias``."""
    return {
        "index_patterns": [f"{alias}-0*"],
        "priority": 200,
        "_meta": {"jinjian_mapping": MAPPING_VERSION},
        "template": {
            "mappings": {"dynamic": "strict", "_meta": {"jinjian_mapping": MAPPING_VERSION},
                         "properties": MAPPINGS[kind]},
        },
    }


def _ms() -> int:
    return time.time_ns() // 1_000_000


# --- transports -------------------------------------------------------------------------------

class HTTPError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status} {_reason(body)}")


class Unreachable(Exception):
    """The request did not get an answer."""


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        return str(error)
    return str(body)[:300]


class Transport:
    """One client library behind ``request``."""

    flavor = ""

    def request(self, method: str, path: str, *, body: Any = None, ndjson: str | None = None,
                params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _headers(ndjson: str | None) -> dict[str, str]:
    return {"accept": "application/json",
            "content-type": "application/x-ndjson" if ndjson is not None else "application/json"}


def _params(params: dict[str, Any] | None) -> dict[str, str] | None:
    return {k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in params.items()} if params else None


class ElasticTransport(Transport):
    flavor = "elasticsearch"

    def __init__(self, base_url: str, timeout: float, ca_file: str | None = None) -> None:
        from elasticsearch import Elasticsearch

        self.client = Elasticsearch(base_url, request_timeout=timeout, max_retries=0,
                                    retry_on_timeout=False, ca_certs=ca_file)

    def request(self, method: str, path: str, *, body: Any = None, ndjson: str | None = None,
                params: dict[str, Any] | None = None) -> Any:
        import elastic_transport
        import elasticsearch

        try:
            resp = self.client.perform_request(
                method, path, params=_params(params), headers=_headers(ndjson),
                body=ndjson if ndjson is not None else body)
        except elasticsearch.ApiError as exc:
            raise HTTPError(exc.meta.status, exc.body) from None
        except elastic_transport.TransportError as exc:
            raise Unreachable(str(exc)) from None
        return resp.body

    def close(self) -> None:
        self.client.close()


class OpenSearchTransport(Transport):
    flavor = "opensearch"

    def __init__(self, base_url: str, timeout: float, ca_file: str | None = None) -> None:
        from opensearchpy import OpenSearch

        tls = {"verify_certs": True, "ca_certs": ca_file} if base_url.startswith("https:") else {}
        self.client = OpenSearch([base_url], timeout=timeout, max_retries=0,
                                 retry_on_timeout=False, **tls)

    def request(self, method: str, path: str, *, body: Any = None, ndjson: str | None = None,
                params: dict[str, Any] | None = None) -> Any:
        from opensearchpy import exceptions

        try:
            return self.client.transport.perform_request(
                method, path, params=_params(params), headers=_headers(ndjson),
                body=ndjson if ndjson is not None else body)
        except exceptions.ConnectionError as exc:  # also timeouts
            raise Unreachable(str(exc)) from None
        except exceptions.TransportError as exc:
            if isinstance(exc.status_code, int):
                raise HTTPError(exc.status_code, exc.info) from None
            raise Unreachable(str(exc)) from None

    def close(self) -> None:
        self.client.close()


# --- opening ----------------------------------------------------------------------------------

CA_VARIABLE = "JINJIAN_STORE_CA"

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}$")


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The TLS context that verifies a cluster's certificate against ``ca_file`` (a PEM file of
    one or more CA certificates: a private CA), or against the system's CAs; a file that is
    missing or holds no certificate is a ``StoreError`` naming it."""
    if not ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise StoreError(f"{CA_VARIABLE} {ca_file}: no such file") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise StoreError(f"{CA_VARIABLE} {ca_file}: not a PEM file of CA certificates ({exc})"
                         ) from None


def _tls_failure(base_url: str, reason: ssl.SSLError) -> StoreError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return StoreError(
            f"{base_url}: the server's TLS certificate is not trusted "
            f"({reason.verify_message}); set {CA_VARIABLE} to the file of the CA that signed it")
    return StoreError(f"{base_url}: TLS with the server failed ({reason.reason or reason})")


def probe(base_url: str, timeout: float = 10, ca_file: str | None = None
          ) -> tuple[str, dict[str, Any]]:
    """Ask the server at ``base_url`` what it is: ``("elasticsearch" | "opensearch", info)``.
    Over https its certificate is verified against ``ca_file`` (else the system's CAs)."""
    parts = urlsplit(base_url)
    context = tls_context(ca_file) if parts.scheme == "https" else None
    plain = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/"
    request = urllib.request.Request(plain, headers={"Accept": "application/json"})
    if parts.username:
        token = f"{parts.username}:{parts.password or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:  # noqa: S310
            headers = resp.headers
            info = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise StoreError(f"{base_url}: the server refused the credentials ({exc.code})"
                             ) from None
        raise StoreError(f"{base_url}: not Elasticsearch or OpenSearch "
                         f"(GET / answered {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):  # not a server away: retrying would not help
            raise _tls_failure(base_url, reason) from None
        raise StoreUnavailable(f"{base_url}: cannot reach the server ({reason})") from None
    except ValueError:
        raise StoreError(f"{base_url}: not Elasticsearch or OpenSearch (GET / is not JSON)"
                         ) from None
    version = info.get("version", {}) if isinstance(info, dict) else {}
    number = str(version.get("number", "0"))
    major = int(number.split(".")[0]) if number.split(".")[0].isdigit() else 0
    if version.get("distribution") == "opensearch":
        return "opensearch", info
    if headers.get("X-Elastic-Product") == "Elasticsearch" or (
            info.get("tagline") == "You Know, for Search" and major >= 8):
        if major < 8:
            raise StoreError(f"{base_url}: Elasticsearch {number} is too old (8 or later)")
        return "elasticsearch", info
    raise StoreError(f"{base_url}: not Elasticsearch or OpenSearch ({number or 'no version'})")


def open_search_store(url: str, *, create: bool = True, retries: int | None = None,
                      backoff: float | None = None, timeout: float = 30,
                      ca_file: str | None = None) -> SearchStore:
    """Open the store at a cluster URL ``http(s)://[user:pass@]host:port[/prefix]``; over https
    the cluster's certificate is verified against ``ca_file`` (default ``$JINJIAN_STORE_CA``,
    else the system's CAs)."""
    parts = urlsplit(url)
    prefix = parts.path.strip("/") or "jinjian"
    if not _PREFIX.match(prefix):
        raise StoreError(f"{url}: the index prefix {prefix!r} must be lower-case letters, "
                         "digits, - or _")
    base = f"{parts.scheme}://{parts.netloc}"
    if ca_file is None:
        ca_file = os.environ.get(CA_VARIABLE) or None
    flavor, info = probe(base, ca_file=ca_file)
    transport: Transport = (OpenSearchTransport(base, timeout, ca_file) if flavor == "opensearch"
                            else ElasticTransport(base, timeout, ca_file))
    if retries is None:
        retries = int(os.environ.get("JINJIAN_STORE_RETRIES", "4"))
    if backoff is None:
        backoff = float(os.environ.get("JINJIAN_STORE_BACKOFF", "0.5"))
    return SearchStore(url, transport, prefix, create=create, retries=retries, backoff=backoff,
                       version=str(info.get("version", {}).get("number", "")))


def _path(doc_id: str) -> str:
    """A document id as one segment of a request path (a change record's key has slashes)."""
    return quote(doc_id, safe="")


# --- records <-> sources ------------------------------------------------------------------------

def _doc_source(rec: StoredDocument, seg: str) -> dict[str, Any]:
    d = rec.doc.to_json()
    d.update(first_seen=rec.first_seen, last_seen=rec.last_seen, text_seg=seg,
             versions=[v.__dict__ for v in rec.versions],
             screening_sets=sorted({e.get("rule_set", "") for e in rec.doc.screening} - {""}),
             updated_ms=_ms())
    if not rec.doc.screening:
        d["screening_sets"] = []
    return d


def _stored_document(src: dict[str, Any]) -> StoredDocument:
    return StoredDocument(Document.from_json(src), src["first_seen"], src["last_seen"],
                          [DocumentVersion(**v) for v in src.get("versions", [])])


def _hit_source(h: StoredHit, doc: Document, seg: str) -> dict[str, Any]:
    src: dict[str, Any] = {
        "id": h.id, "doc_id": h.doc_id, "category": h.category, "slug": slug_of(h.category),
        "score": h.score, "evidence": h.evidence, "first_seen": h.first_seen,
        "last_seen": h.last_seen, "status": h.status, "reviewed_by": h.reviewed_by,
        "audit": [a.to_json() for a in h.audit], "text_seg": seg, "updated_ms": _ms(),
    }
    if h.reviewed_at:
        src["reviewed_at"] = h.reviewed_at
    src.update({f: getattr(doc, f) for f in DENORM})
    return src


def _stored_hit(src: dict[str, Any]) -> StoredHit:
    return StoredHit(
        id=src["id"], doc_id=src["doc_id"], category=int(src["category"]),
        score=float(src["score"]), evidence=src.get("evidence") or [],
        first_seen=src["first_seen"], last_seen=src["last_seen"], status=src["status"],
        reviewed_at=src.get("reviewed_at") or "", reviewed_by=src.get("reviewed_by") or "",
        audit=[AuditEntry.from_json(a) for a in src.get("audit") or []],
    )


def _hit(src: dict[str, Any]) -> Hit:
    category = int(src["category"])
    return Hit(
        id=src["id"], doc_id=src["doc_id"], url=src.get("url", ""), site=src.get("site", ""),
        kind=src.get("kind", ""), doc_type=src.get("doc_type", ""),
        landing_url=src.get("landing_url", ""), category=category, slug=slug_of(category),
        score=float(src["score"]), evidence=public_evidence(src.get("evidence") or []),
        first_seen=src["first_seen"], last_seen=src["last_seen"], status=src["status"],
        region=src.get("region", ""), reviewed_at=src.get("reviewed_at") or "",
        reviewed_by=src.get("reviewed_by") or "",
    )


def _site_source(s: SiteRecord) -> dict[str, Any]:
    return {**s.to_json(), "updated_ms": _ms()}


def _site_record(src: dict[str, Any]) -> SiteRecord:
    return SiteRecord(**{k: src.get(k, "") for k in
                         ("site", "kind", "first_seen", "last_seen", "region", "icp",
                          "operator")})


class _Got:
    """A document read with ``_mget`` / ``GET``: its source and concurrency token."""

    __slots__ = ("source", "seq_no", "primary_term")

    def __init__(self, source: dict[str, Any], seq_no: int, primary_term: int) -> None:
        self.source = source
        self.seq_no = seq_no
        self.primary_term = primary_term

    def cas(self) -> dict[str, int]:
        return {"if_seq_no": self.seq_no, "if_primary_term": self.primary_term}


# --- the store ----------------------------------------------------------------------------------

class SearchStore(Store):
    """A jinjian store in an Elasticsearch or OpenSearch cluster."""

    def __init__(self, url: str, transport: Transport, prefix: str, *, create: bool = True,
                 retries: int = 4, backoff: float = 0.5, version: str = "") -> None:
        self.location = url
        self.transport = transport
        self.flavor = transport.flavor
        self.server_version = version
        self.prefix = prefix
        self.retries = retries
        self.backoff = backoff
        self.alias = {k: f"{prefix}-{k}" for k in KINDS}
        self._dirty = False
        self._templates_put = False
        self.retried = 0  # requests and items sent again, since opening
        self._ensure(create)

    def describe(self) -> str:
        name = "OpenSearch" if self.flavor == "opensearch" else "Elasticsearch"
        return f"{name} {self.server_version} store {self.location}"

    # --- requests --------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None, ndjson: str | None = None,
              params: dict[str, Any] | None = None) -> Any:
        """One request, retried with exponential backoff while the cluster is unreachable or
        overloaded; then ``StoreUnavailable``."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 30.0))
                self.retried += 1
            try:
                return self.transport.request(method, path, body=body, ndjson=ndjson,
                                              params=params)
            except Unreachable as exc:
                last = exc
            except HTTPError as exc:
                if exc.status not in (429, 502, 503, 504):
                    raise
                last = exc
        raise StoreUnavailable(f"{self.location}: the cluster did not answer after "
                               f"{self.retries + 1} attempts ({last})")

    def _physical(self, kind: str) -> str | None:
        try:
            answer = self._call("GET", f"/_alias/{self.alias[kind]}")
        except HTTPError as exc:
            if exc.status == 404:
                return None
            raise StoreError(f"{self.location}: {exc}") from None
        names = sorted(answer)
        return names[-1] if names else None

    def _put_templates(self) -> None:
        for kind in KINDS:
            self._call("PUT", f"/_index_template/{self.alias[kind]}",
                       body=index_template(self.alias[kind], kind))
        self._templates_put = True

    def _create_index(self, name: str, alias: str | None) -> None:
        body = {"aliases": {alias: {}}} if alias else {}
        try:
            self._call("PUT", f"/{name}", body=body)
        except HTTPError as exc:
            if "already_exists" not in _reason(exc.body):
                raise StoreError(f"{self.location}: cannot create index {name}: {exc}") from None

    def _ensure(self, create: bool) -> None:
        for kind in KINDS:
            index = self._physical(kind)
            if index is None:
                if not create and kind != "nightly":  # nightly: added to older stores here
                    raise StoreError(f"{self.location}: no store here (no {self.alias[kind]} "
                                     "index; run `jinjian crawl` or `jinjian index copy` first)")
                if not self._templates_put:
                    self._put_templates()
                self._create_index(f"{self.alias[kind]}-000001", self.alias[kind])
                continue
            mapping = self._call("GET", f"/{index}/_mapping")
            mappings = mapping.get(index, {}).get("mappings", {})
            meta = mappings.get("_meta") or {}
            version = int(meta.get("jinjian_mapping", 0))
            if version > MAPPING_VERSION:
                raise StoreError(f"{self.location}: index {index} has mapping version {version}, "
                                 f"newer than this jinjian ({MAPPING_VERSION})")
            if version < MAPPING_VERSION:
                raise StoreError(f"{self.location}: index {index} has mapping version {version}; "
                                 f"run `jinjian index reindex --store {self.location}`")
            self._add_missing_fields(kind, index, mappings.get("properties") or {})

    def _add_missing_fields(self, kind: str, index: str, properties: dict[str, Any]) -> None:
        """Fields added to the mappings since ``index`` was made (new fields only, such as a
        document's ``warc`` reference) are added to it in place: no reindex is needed."""
        missing = {k: v for k, v in MAPPINGS[kind].items() if k not in properties}
        if not missing:
            return
        try:
            self._call("PUT", f"/{index}/_mapping", body={"properties": missing})
        except HTTPError as exc:
            raise StoreError(f"{self.location}: cannot add {', '.join(sorted(missing))} to the "
                             f"mapping of {index}: {exc}") from None
        if not self._templates_put:
            self._put_templates()

    def indices(self) -> dict[str, str | None]:
        """The index behind each alias."""
        return {kind: self._physical(kind) for kind in KINDS}

    def _refresh(self) -> None:
        if self._dirty:
            self._call("POST", f"/{','.join(self.alias.values())}/_refresh")
            self._dirty = False

    def flush(self) -> None:
        self._refresh()

    def close(self) -> None:
        try:
            self._refresh()
        except StoreError:
            pass
        self.transport.close()

    def destroy(self) -> None:
        """Delete this store's indices and templates (tests and `index copy` rollbacks)."""
        for kind in KINDS:
            try:
                answer = self._call("GET", f"/_alias/{self.alias[kind]}")
            except HTTPError:
                answer = {}
            for index in answer:
                self._call("DELETE", f"/{index}")
            try:
                self._call("DELETE", f"/_index_template/{self.alias[kind]}")
            except HTTPError:
                pass

    def _mget(self, kind: str, ids: Sequence[str]) -> dict[str, _Got]:
        found: dict[str, _Got] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 1000):
            answer = self._call("POST", f"/{self.alias[kind]}/_mget",
                                body={"ids": unique[start:start + 1000]})
            for d in answer.get("docs", []):
                if d.get("found"):
                    found[d["_id"]] = _Got(d["_source"], d["_seq_no"], d["_primary_term"])
        return found

    def _get(self, kind: str, key: str) -> _Got | None:
        return self._mget(kind, [key]).get(key)

    def _bulk(self, actions: list[tuple[dict[str, Any], dict[str, Any] | None]],
              report: WriteReport) -> list[tuple[int, Any]]:
        """Send actions in chunks; retry the items the cluster rejected for load (429/503)
        with backoff. Returns (status, error) per action."""
        results: list[tuple[int, Any]] = [(0, None)] * len(actions)
        todo = list(range(len(actions)))
        attempt = 0
        while todo:
            for start in range(0, len(todo), 500):
                chunk = todo[start:start + 500]
                lines = []
                for i in chunk:
                    meta, body = actions[i]
                    lines.append(json.dumps(meta, ensure_ascii=False))
                    if body is not None:
                        lines.append(json.dumps(body, ensure_ascii=False))
                answer = self._call("POST", "/_bulk", ndjson="\n".join(lines) + "\n")
                for i, item in zip(chunk, answer.get("items", []), strict=False):
                    info = next(iter(item.values()))
                    results[i] = (int(info.get("status", 500)), info.get("error"))
            retry = [i for i in todo if results[i][0] in (429, 503)]
            if not retry:
                break
            if attempt >= self.retries:
                raise StoreUnavailable(
                    f"{self.location}: the cluster kept refusing {len(retry)} writes for load "
                    f"({_reason(results[retry[0]][1])})")
            time.sleep(min(self.backoff * 2 ** attempt, 30.0))
            attempt += 1
            self.retried += 1
            todo = retry
        self._dirty = True
        return results

    def _walk(self, kind: str, query: dict[str, Any], sort: list[dict[str, str]]
              ) -> Iterator[dict[str, Any]]:
        """Every match of ``query`` in ``sort`` order, page by page with ``search_after``."""
        return self._walk_index(self.alias[kind], query, sort)

    # --- writing ---------------------------------------------------------------------------

    def _write_prepared(self, items: list[PreparedWrite]) -> WriteReport:
        report = WriteReport()
        retried = self.retried
        try:
            self._write_all(items, report)
        finally:
            report.retries = self.retried - retried
        return report

    def _write_all(self, items: list[PreparedWrite], report: WriteReport) -> None:
        pending = items
        for _ in range(5):
            if not pending:
                break
            pending = self._write_round(pending, report)
        for p in pending:
            report.rejected.append(Rejected(p.doc.id, p.doc.url,
                                            "kept changing during the write (version conflicts)"))

    def _write_round(self, items: list[PreparedWrite], report: WriteReport
                     ) -> list[PreparedWrite]:
        doc_ids = list(dict.fromkeys(p.doc.id for p in items))
        got_docs = self._mget("documents", doc_ids)
        got_sites = self._mget("sites", list(dict.fromkeys(p.doc.site for p in items)))
        got_hits = self._mget("hits", [hit_id(d, c) for d in doc_ids for c in range(1, 10)])

        docs = {i: _stored_document(g.source) for i, g in got_docs.items()}
        sites = {s: _site_record(g.source) for s, g in got_sites.items()}
        hits = {h: _stored_hit(g.source) for h, g in got_hits.items()}
        orig_docs, orig_sites, orig_hits = dict(docs), dict(sites), dict(hits)
        text_changed: set[str] = set()
        items_of: dict[str, list[int]] = {}  # doc id -> items
        for n, p in enumerate(items):
            items_of.setdefault(p.doc.id, []).append(n)
            merged, changed = merge_document(docs.get(p.doc.id), p)
            docs[p.doc.id] = merged
            if changed:
                text_changed.add(p.doc.id)
            sites[merged.doc.site] = merge_site(sites.get(merged.doc.site), merged.doc, p.seen_at)
            for category, score, evidence in p.hits:
                key = hit_id(p.doc.id, category)
                hits[key] = merge_hit(hits.get(key), p.doc.id, category, score, evidence,
                                      p.seen_at)

        actions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        owner: list[list[str]] = []  # doc ids whose items an action belongs to
        seg: dict[str, str] = {}
        for d in doc_ids:
            rec, old = docs[d], orig_docs.get(d)
            if d in text_changed or old is None:
                seg[d] = fulltext.segment(f"{rec.doc.title}\n{rec.doc.text}")
            else:
                seg[d] = got_docs[d].source.get("text_seg", "")
            if old is None:
                actions.append(({"create": {"_index": self.alias["documents"], "_id": d}},
                                _doc_source(rec, seg[d])))
                owner.append([d])
            elif rec != old:
                actions.append(({"index": {"_index": self.alias["documents"], "_id": d,
                                           **got_docs[d].cas()}}, _doc_source(rec, seg[d])))
                owner.append([d])
        for key, h in hits.items():
            old_hit = orig_hits.get(key)
            rec = docs[h.doc_id]
            old_doc = orig_docs.get(h.doc_id)
            doc_moved = old_doc is not None and (
                h.doc_id in text_changed
                or any(getattr(rec.doc, f) != getattr(old_doc.doc, f) for f in DENORM))
            if old_hit is None:
                actions.append(({"create": {"_index": self.alias["hits"], "_id": key}},
                                 _hit_source(h, rec.doc, seg[h.doc_id])))
            elif h != old_hit or doc_moved:
                partial = {"score": h.score, "evidence": h.evidence, "first_seen": h.first_seen,
                           "last_seen": h.last_seen, "text_seg": seg[h.doc_id],
                           "updated_ms": _ms(), **{f: getattr(rec.doc, f) for f in DENORM}}
                actions.append(({"update": {"_index": self.alias["hits"], "_id": key,
                                            **got_hits[key].cas()}}, {"doc": partial}))
            else:
                continue
            owner.append([h.doc_id])
        for name, s in sites.items():
            old_site = orig_sites.get(name)
            if old_site is None:
                actions.append(({"create": {"_index": self.alias["sites"], "_id": name}},
                                _site_source(s)))
            elif s != old_site:
                actions.append(({"update": {"_index": self.alias["sites"], "_id": name,
                                            **got_sites[name].cas()}},
                                {"doc": _site_source(s)}))
            else:
                continue
            owner.append([d for d in doc_ids if docs[d].doc.site == name])

        results = self._bulk(actions, report) if actions else []
        retry: set[str] = set()
        refused: dict[str, str] = {}
        for (status, error), docs_of in zip(results, owner, strict=True):
            if status in (409, 404):  # changed (or vanished) since we read it: read again
                retry.update(docs_of)
            elif status >= 300:
                for d in docs_of:
                    refused.setdefault(d, f"{status} {_reason({'error': error})}")
        for d, reason in refused.items():
            first = items[items_of[d][0]]
            report.rejected.append(Rejected(d, first.doc.url, reason))
        retry -= set(refused)
        report.written += sum(1 for p in items if p.doc.id not in retry and p.doc.id not in refused)
        return [p for p in items if p.doc.id in retry]

    def touch(self, doc_ids: Sequence[str], seen_at: str) -> int:
        seen = normalise_time(seen_at)
        before: dict[str, str] = {}  # document → its last seen before this touch
        todo = list(dict.fromkeys(doc_ids))
        for _ in range(5):
            if not todo:
                return len(before)
            todo = self._touch_round(todo, seen, before)
        raise StoreError(f"{self.location}: {len(todo)} documents kept changing while their "
                         "last seen moved; touch them again")

    def _touch_round(self, ids: list[str], seen: str, before: dict[str, str]) -> list[str]:
        """One read-and-update round of ``touch``; the documents to try again (conflicts)."""
        got = self._mget("documents", ids)
        for d, g in got.items():
            if d not in before and g.source["last_seen"] < seen:
                before[d] = g.source["last_seen"]
        docs = {d: g for d, g in got.items() if d in before}
        hits = self._mget("hits", [hit_id(d, c) for d in docs for c in range(1, 10)])
        sites = self._mget("sites", list({g.source["site"] for g in docs.values()}))
        actions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        owner: list[list[str]] = []
        for d, g in docs.items():
            if g.source["last_seen"] >= seen:
                continue  # moved in an earlier round
            versions = list(g.source.get("versions") or [])
            if versions:
                versions[-1] = {**versions[-1], "last_seen": seen}
            actions.append(({"update": {"_index": self.alias["documents"], "_id": d, **g.cas()}},
                            {"doc": {"last_seen": seen, "versions": versions,
                                     "updated_ms": _ms()}}))
            owner.append([d])
        for key, h in hits.items():
            if h.source["last_seen"] == before[h.source["doc_id"]]:
                actions.append(({"update": {"_index": self.alias["hits"], "_id": key,
                                            **h.cas()}},
                                {"doc": {"last_seen": seen, "updated_ms": _ms()}}))
                owner.append([h.source["doc_id"]])
        for name, g in sites.items():
            if g.source.get("last_seen", "") < seen:
                actions.append(({"update": {"_index": self.alias["sites"], "_id": name,
                                            **g.cas()}},
                                {"doc": {"last_seen": seen, "updated_ms": _ms()}}))
                owner.append([d for d, dg in docs.items() if dg.source["site"] == name])
        retry: set[str] = set()
        for (status, error), docs_of in zip(self._bulk(actions, WriteReport()) if actions else [],
                                            owner, strict=True):
            if status in (409, 404):
                retry.update(docs_of)
            elif status >= 300:
                raise StoreError(f"{self.location}: touch of {docs_of[0] if docs_of else '?'}: "
                                 f"{status} {_reason({'error': error})}")
        return sorted(retry)

    # --- reading ---------------------------------------------------------------------------

    def _query(self, query: HitQuery) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if query.category is not None:
            filters.append({"term": {"category": str(query.category)}})
        for name in ("site", "kind", "region", "doc_type"):
            value = getattr(query, name)
            if value is not None:
                filters.append({"term": {name: value}})
        statuses = query.statuses()
        if statuses is not None:
            filters.append({"terms": {"status": statuses}})
        lo, hi = time_bounds(query.since, query.until)
        if lo is not None or hi is not None:
            bounds = {k: v for k, v in (("gte", lo), ("lt", hi)) if v is not None}
            filters.append({"range": {"last_seen": bounds}})
        if query.text is not None and query.text.strip():
            groups = fulltext.query_groups(query.text)
            if not groups:
                filters.append({"bool": {"must_not": [{"match_all": {}}]}})
            filters += fulltext.search_query(groups, "text_seg")
        return {"bool": {"filter": filters}} if filters else {"match_all": {}}

    @staticmethod
    def _sort(query: HitQuery) -> list[dict[str, str]]:
        order = "desc" if query.descending else "asc"
        return [{query.sort: order}, {"site": "asc"}, {"category": "asc"}, {"url": "asc"},
                {"id": "asc"}]

    def hits(self, query: HitQuery | None = None) -> Iterator[Hit]:
        query = (query or HitQuery()).checked()
        self._refresh()
        es_query, sort = self._query(query), self._sort(query)
        if query.limit == 0:
            return
        if query.limit is not None and query.offset + query.limit <= MAX_WINDOW:
            answer = self._call("POST", f"/{self.alias['hits']}/_search", body={
                "query": es_query, "sort": sort, "from": query.offset, "size": query.limit,
                "track_total_hits": False})
            for h in answer["hits"]["hits"]:
                yield _hit(h["_source"])
            return
        skip, left = query.offset, query.limit
        for h in self._walk("hits", es_query, sort):
            if skip:
                skip -= 1
                continue
            yield _hit(h["_source"])
            if left is not None:
                left -= 1
                if left == 0:
                    return

    def count_hits(self, query: HitQuery | None = None) -> int:
        query = (query or HitQuery()).checked()
        self._refresh()
        answer = self._call("POST", f"/{self.alias['hits']}/_count",
                            body={"query": self._query(query)})
        return int(answer["count"])

    def aggregate(self, by: str, query: HitQuery | None = None, limit: int | None = None
                  ) -> list[tuple[Any, int]]:
        fields = {"category", "site", "kind", "region", "status", "doc_type"}
        if by != "day" and by not in fields:
            raise QueryError(f"aggregate by {by!r}: expected one of "
                             f"{', '.join(sorted(fields | {'day'}))}")
        query = (query or HitQuery()).checked()
        self._refresh()
        if by == "day":
            agg = {"date_histogram": {"field": "first_seen", "calendar_interval": "day",
                                      "format": "yyyy-MM-dd", "min_doc_count": 1}}
        else:
            agg = {"terms": {"field": by, "size": limit or MAX_WINDOW,
                             "order": [{"_count": "desc"}, {"_key": "asc"}]}}
        answer = self._call("POST", f"/{self.alias['hits']}/_search", body={
            "query": self._query(query), "size": 0, "aggs": {"a": agg}})
        buckets = answer["aggregations"]["a"]["buckets"]
        if by == "day":
            days = [(b["key_as_string"], int(b["doc_count"])) for b in buckets if b["doc_count"]]
            return days if limit is None else days[:limit]
        pairs = [(int(b["key"]) if by == "category" else b["key"], int(b["doc_count"]))
                 for b in buckets]
        pairs.sort(key=lambda kv: (-kv[1], kv[0]))
        return pairs if limit is None else pairs[:limit]

    def stored_hit(self, hit: str) -> StoredHit | None:
        got = self._get("hits", hit)
        return _stored_hit(got.source) if got else None

    def hit(self, hit: str) -> Hit | None:
        got = self._get("hits", hit)
        return _hit(got.source) if got else None

    def document_record(self, document_id: str) -> StoredDocument | None:
        got = self._get("documents", document_id)
        return _stored_document(got.source) if got else None

    def set_screenshot(self, document_id: str, info: dict[str, Any]) -> None:
        # the whole source again, under its concurrency token: a partial update would merge the
        # new record into the old one key by key
        for _ in range(5):
            got = self._get("documents", document_id)
            if got is None:
                raise StoreError(f"document {document_id}: no such document in {self.location}")
            source = {**got.source, "extra": {**(got.source.get("extra") or {}),
                                              "screenshot": info}, "updated_ms": _ms()}
            report = WriteReport()
            ((status, error),) = self._bulk(
                [({"index": {"_index": self.alias["documents"], "_id": document_id,
                             **got.cas()}}, source)], report)
            if status == 409:
                continue  # a crawl wrote the document meanwhile: record it on the new version
            if status >= 300:
                raise StoreError(f"document {document_id}: {status} {_reason({'error': error})}")
            return
        raise StoreError(f"document {document_id}: it kept changing; retry")

    def count_documents(self) -> int:
        self._refresh()
        return int(self._call("POST", f"/{self.alias['documents']}/_count",
                              body={"query": {"match_all": {}}})["count"])

    def _screened_documents(self, site: str) -> list[Document]:
        self._refresh()
        query = {"bool": {"filter": [{"term": {"site": site}},
                                     {"exists": {"field": "screening_sets"}}]}}
        return [Document.from_json(h["_source"]) for h in
                self._walk("documents", query, [{"url": "asc"}, {"id": "asc"}])]

    # --- review ----------------------------------------------------------------------------

    def transition(self, hit: str, to_status: str, *, user: str, note: str = "",
                   at: str | None = None, details: dict[str, str] | None = None
                   ) -> AuditEntry:
        when = normalise_time(at) if at else now()
        for _ in range(5):
            got = self._get("hits", hit)
            if got is None:
                raise UnknownHit(f"hit {hit}: no such hit in {self.location}")
            from_status = got.source["status"]
            check_transition(hit, from_status, to_status)
            entry = AuditEntry(hit, when, user, from_status, to_status, note, dict(details or {}))
            partial = {"status": to_status, "reviewed_at": when, "reviewed_by": user,
                       "audit": [*(got.source.get("audit") or []), entry.to_json()],
                       "updated_ms": _ms()}
            try:
                self._call("POST", f"/{self.alias['hits']}/_update/{_path(hit)}",
                           body={"doc": partial}, params={**got.cas(), "refresh": "wait_for"})
            except HTTPError as exc:
                if exc.status in (404, 409):
                    continue  # someone else changed the hit meanwhile: judge again
                raise StoreError(f"hit {hit}: {exc}") from None
            return entry
        raise StoreError(f"hit {hit}: it kept changing while being moved to {to_status}; retry")

    def audit(self, hit: str | None = None) -> list[AuditEntry]:
        if hit is not None:
            stored = self.stored_hit(hit)
            return stored.audit if stored else []
        self._refresh()
        entries = []
        for h in self._walk("hits", {"exists": {"field": "reviewed_at"}}, [{"id": "asc"}]):
            entries += [AuditEntry.from_json(a) for a in h["_source"].get("audit") or []]
        return sorted(entries, key=lambda a: a.at)  # stable: per hit, the order of its moves

    # --- sites -----------------------------------------------------------------------------

    def site_records(self, site: str | None = None) -> list[SiteRecord]:
        if site is not None:
            got = self._get("sites", site)
            return [_site_record(got.source)] if got else []
        self._refresh()
        return [_site_record(h["_source"]) for h in
                self._walk("sites", {"match_all": {}}, [{"site": "asc"}])]

    def _site_stats(self, site: str | None = None
                    ) -> dict[str, list[tuple[int, str, int, float]]]:
        self._refresh()
        names = [site] if site is not None else [r.site for r in self.site_records()]
        out: dict[str, list[tuple[int, str, int, float]]] = {}
        for start in range(0, len(names), 500):  # bounded buckets, however many sites
            chunk = names[start:start + 500]
            answer = self._call("POST", f"/{self.alias['hits']}/_search", body={
                "query": {"terms": {"site": chunk}}, "size": 0,
                "aggs": {"s": {"terms": {"field": "site", "size": len(chunk)}, "aggs": {
                    "c": {"terms": {"field": "category", "size": 10}, "aggs": {
                        "st": {"terms": {"field": "status", "size": 10},
                               "aggs": {"m": {"max": {"field": "score"}}}}}}}}}})
            for s in answer["aggregations"]["s"]["buckets"]:
                for c in s["c"]["buckets"]:
                    for st in c["st"]["buckets"]:
                        out.setdefault(s["key"], []).append(
                            (int(c["key"]), st["key"], int(st["doc_count"]),
                             float(st["m"]["value"] or 0.0)))
        return out

    def set_site_info(self, site: str, *, icp: str | None = None,
                      operator: str | None = None) -> None:
        for _ in range(5):
            got = self._get("sites", site)
            if got is None:
                raise StoreError(f"site {site}: no such site in {self.location}")
            old = _site_record(got.source)
            new = replace(old, icp=old.icp if icp is None else icp,
                          operator=old.operator if operator is None else operator)
            try:
                self._call("POST", f"/{self.alias['sites']}/_update/{_path(site)}",
                           body={"doc": _site_source(new)},
                           params={**got.cas(), "refresh": "wait_for"})
            except HTTPError as exc:
                if exc.status == 409:
                    continue
                raise StoreError(f"site {site}: {exc}") from None
            return
        raise StoreError(f"site {site}: it kept changing; retry")

    # --- nightly records ----------------------------------------------------------------------

    def _put_record(self, record: NightlyRecord) -> None:
        rid = f"{record.kind}:{record.key}"
        source = {"rid": rid, "kind": record.kind, "key": record.key, "at": record.at,
                  "site": record.site, "body": record.body, "updated_ms": _ms()}
        try:
            self._call("PUT", f"/{self.alias['nightly']}/_doc/{_path(rid)}", body=source,
                       params={"refresh": "wait_for"})
        except HTTPError as exc:
            raise StoreError(f"{self.location}: {record.kind} {record.key}: {exc}") from None

    @staticmethod
    def _record(src: dict[str, Any]) -> NightlyRecord:
        return NightlyRecord(src["kind"], src["key"], src["at"], src.get("body") or {},
                             src.get("site", ""))

    def iter_records(self, kind: str, *, site: str | None = None, batch: int = RECORDS_BATCH
                     ) -> Iterator[NightlyRecord]:
        self._refresh()
        filters: list[dict[str, Any]] = [{"term": {"kind": kind}}]
        if site is not None:
            filters.append({"term": {"site": site}})
        for h in self._walk_index(self.alias["nightly"], {"bool": {"filter": filters}},
                                  [{"at": "desc"}, {"rid": "desc"}], page=batch):
            yield self._record(h["_source"])

    def record(self, kind: str, key: str) -> NightlyRecord | None:
        got = self._get("nightly", f"{kind}:{key}")
        return self._record(got.source) if got else None

    def export_records(self) -> Iterator[NightlyRecord]:
        self._refresh()
        for h in self._walk("nightly", {"match_all": {}}, [{"rid": "asc"}]):
            yield self._record(h["_source"])

    # --- moving a store ----------------------------------------------------------------------

    def export_documents(self, site: str | None = None) -> Iterator[StoredDocument]:
        self._refresh()
        query = {"term": {"site": site}} if site is not None else {"match_all": {}}
        for h in self._walk("documents", query, [{"id": "asc"}]):
            yield _stored_document(h["_source"])

    def export_hits(self) -> Iterator[StoredHit]:
        self._refresh()
        for h in self._walk("hits", {"match_all": {}}, [{"id": "asc"}]):
            yield _stored_hit(h["_source"])

    def _check(self, results: list[tuple[int, Any]], keys: list[tuple[str, str]],
               report: WriteReport) -> None:
        for (status, error), (key, url) in zip(results, keys, strict=True):
            if status >= 300:
                report.rejected.append(Rejected(key, url, f"{status} {_reason({'error': error})}"))
            else:
                report.written += 1

    def import_records(self, documents: Sequence[StoredDocument] = (),
                       hits: Sequence[StoredHit] = (), sites: Sequence[SiteRecord] = ()
                       ) -> WriteReport:
        report = WriteReport()
        actions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        keys: list[tuple[str, str]] = []
        for s in sites:
            actions.append(({"index": {"_index": self.alias["sites"], "_id": s.site}},
                            _site_source(s)))
            keys.append((s.site, ""))
        for rec in documents:
            seg = fulltext.segment(f"{rec.doc.title}\n{rec.doc.text}")
            actions.append(({"index": {"_index": self.alias["documents"], "_id": rec.doc.id}},
                            _doc_source(rec, seg)))
            keys.append((rec.doc.id, rec.doc.url))
        if actions:
            self._check(self._bulk(actions, report), keys, report)
        if hits:
            got = self._mget("documents", [h.doc_id for h in hits])
            actions, keys = [], []
            for h in hits:
                if h.doc_id not in got:
                    report.rejected.append(Rejected(h.doc_id, "", f"hit {h.id}: no document"))
                    continue
                src = got[h.doc_id].source
                actions.append(({"index": {"_index": self.alias["hits"], "_id": h.id}},
                                _hit_source(h, Document.from_json(src), src.get("text_seg", ""))))
                keys.append((h.id, src.get("url", "")))
            if actions:
                self._check(self._bulk(actions, report), keys, report)
        return report

    # --- reindex -----------------------------------------------------------------------------

    def _next_name(self, kind: str, current: str) -> str:
        match = re.search(r"-(\d+)$", current)
        n = int(match.group(1)) + 1 if match else 1
        return f"{self.alias[kind]}-{n:06d}"

    def _copy_into(self, kind: str, target: str, found: list[dict[str, Any]],
                   report: WriteReport, docs_index: str,
                   cas: dict[str, _Got] | None = None) -> int:
        """Write search results (re-derived for the current mappings) into index ``target``;
        with ``cas``, only over the versions read there (or where nothing was)."""
        actions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        words: dict[str, str] = {}
        if kind == "hits":
            ids = list(dict.fromkeys(h["_source"]["doc_id"] for h in found))
            for start in range(0, len(ids), 1000):
                answer = self._call("POST", f"/{docs_index}/_mget",
                                    body={"ids": ids[start:start + 1000]})
                for d in answer.get("docs", []):
                    if d.get("found"):
                        words[d["_id"]] = d["_source"].get("text_seg", "")
        for h in found:
            src = dict(h["_source"])
            if kind == "documents":
                src["text_seg"] = fulltext.segment(f"{src.get('title', '')}\n{src['text']}")
            elif kind == "hits":
                src["text_seg"] = words.get(src["doc_id"], src.get("text_seg", ""))
            src = {k: v for k, v in src.items() if k in MAPPINGS[kind]}
            meta: dict[str, Any] = {"_index": target, "_id": h["_id"]}
            if cas is not None and h["_id"] in cas:
                actions.append(({"index": {**meta, **cas[h["_id"]].cas()}}, src))
            elif cas is not None:
                actions.append(({"create": meta}, src))
            else:
                actions.append(({"index": meta}, src))
        if not actions:
            return 0
        results = self._bulk(actions, report)
        for (status, error), (meta, _) in zip(results, actions, strict=True):
            if status >= 300 and status != 409:  # 409: changed there since: that one is newer
                ident = next(iter(meta.values()))["_id"]
                report.rejected.append(Rejected(ident, "", f"{status} "
                                                f"{_reason({'error': error})}"))
        return sum(1 for status, _ in results if status < 300)

    def reindex(self, progress: Progress | None = None) -> dict[str, Any]:
        """Copy every index into a new version made from the current templates (re-segmenting
        text), switch the aliases in one atomic step, copy what changed during the copy, and
        drop the old indices. Readers always see a complete store through the aliases."""
        report = WriteReport()
        self._refresh()
        self._put_templates()
        old = {k: self._physical(k) for k in KINDS}
        if any(v is None for v in old.values()):
            raise StoreError(f"{self.location}: no store here to reindex")
        new = {k: self._next_name(k, old[k] or "") for k in KINDS}
        start_ms = _ms() - 2000  # writes after this are caught up after the switch
        for k in KINDS:
            self._create_index(new[k], None)
        counts: dict[str, int] = {}
        for k in KINDS:  # documents first: hits take their words from the new documents
            batch: list[dict[str, Any]] = []
            done = 0
            sort = [{KEY_FIELD[k]: "asc"}]
            for h in self._walk_index(old[k] or "", {"match_all": {}}, sort):
                batch.append(h)
                if len(batch) >= 500:
                    done += self._copy_into(k, new[k], batch, report, new["documents"])
                    batch = []
                    if progress:
                        progress(f"{k} {done}", done)
            done += self._copy_into(k, new[k], batch, report, new["documents"])
            self._call("POST", f"/{new[k]}/_refresh")
            counts[k] = done
            if progress:
                progress(f"{k} {done}", done)
        actions = []
        for k in KINDS:
            actions += [{"remove": {"index": old[k], "alias": self.alias[k]}},
                        {"add": {"index": new[k], "alias": self.alias[k]}}]
        self._call("POST", "/_aliases", body={"actions": actions})
        caught = 0
        for _ in range(3):  # writes that reached the old indices during the copy
            round_start = _ms() - 2000
            copied = 0
            for k in KINDS:
                self._call("POST", f"/{old[k]}/_refresh")
                changed = list(self._walk_index(old[k] or "",
                                                {"range": {"updated_ms": {"gte": start_ms}}},
                                                [{KEY_FIELD[k]: "asc"}]))
                if not changed:
                    continue
                current = {}
                for start in range(0, len(changed), 1000):
                    answer = self._call("POST", f"/{new[k]}/_mget", body={
                        "ids": [h["_id"] for h in changed[start:start + 1000]]})
                    for d in answer.get("docs", []):
                        if d.get("found"):
                            current[d["_id"]] = _Got(d["_source"], d["_seq_no"],
                                                     d["_primary_term"])
                newer = [h for h in changed if h["_id"] not in current or
                         current[h["_id"]].source.get("updated_ms", 0)
                         < h["_source"].get("updated_ms", 0)]
                copied += self._copy_into(k, new[k], newer, report, new["documents"],
                                          cas=current)
            caught += copied
            start_ms = round_start
            if not copied:
                break
        for k in KINDS:
            self._call("DELETE", f"/{old[k]}")
        self._dirty = True
        self._refresh()
        return {**counts, "caught_up": caught, "indices": new,
                "rejected": [r.__dict__ for r in report.rejected]}

    def _walk_index(self, index: str, query: dict[str, Any], sort: list[dict[str, str]],
                    page: int = PAGE) -> Iterator[dict[str, Any]]:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "sort": sort, "size": page,
                                    "track_total_hits": False}
            if after is not None:
                body["search_after"] = after
            found = self._call("POST", f"/{index}/_search", body=body)["hits"]["hits"]
            yield from found
            if len(found) < page:
                return
            after = found[-1]["sort"]
