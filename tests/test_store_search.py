"""What only the search-cluster backends have: the probe that picks the client, index templates
and versioned indices behind aliases, bulk retries and the report of refused documents, and
riding out a short outage. Runs on noida-db (Elasticsearch) and osmem-server (OpenSearch)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from indexer import HitQuery, StoreError, StoreUnavailable, open_store
from indexer.search import MAPPING_VERSION, ElasticTransport, OpenSearchTransport
from tests.conftest import STORE_BACKENDS, FlakyProxy, free_port
from tests.test_store_conformance import CRAWL, P1, P2, load

CLUSTERS = [b for b in STORE_BACKENDS if b != "sqlite"]
pytestmark = pytest.mark.parametrize("store_space", CLUSTERS, indirect=True)


def test_the_server_is_probed_and_its_own_client_used(store_space):
    store = store_space.open()
    if store_space.backend == "opensearch":
        assert isinstance(store.transport, OpenSearchTransport)
        assert store.describe().startswith("OpenSearch")
    else:
        assert isinstance(store.transport, ElasticTransport)
        assert store.describe().startswith("Elasticsearch")


def test_templates_mappings_and_versioned_indices_behind_aliases(store_space):
    store = load(store_space.open())
    call = store.transport.request
    for kind in ("documents", "hits", "sites"):
        alias = f"{store.prefix}-{kind}"
        assert list(call("GET", f"/_alias/{alias}")) == [f"{alias}-000001"]
        (template,) = call("GET", f"/_index_template/{alias}")["index_templates"]
        assert template["index_template"]["index_patterns"] == [f"{alias}-0*"]
        mapping = call("GET", f"/{alias}-000001/_mapping")[f"{alias}-000001"]["mappings"]
        assert mapping["_meta"]["jinjian_mapping"] == MAPPING_VERSION
        assert mapping["dynamic"] == "strict"
    props = call("GET", f"/{store.prefix}-hits-000001/_mapping")[
        f"{store.prefix}-hits-000001"]["mappings"]["properties"]
    assert props["text_seg"] == {"type": "text", "analyzer": "whitespace"}
    assert props["site"]["type"] == props["category"]["type"] == props["id"]["type"] == "keyword"
    docs = call("GET", f"/{store.prefix}-documents-000001/_mapping")[
        f"{store.prefix}-documents-000001"]["mappings"]["properties"]
    assert docs["text"]["type"] == "text" and docs["text_seg"]["analyzer"] == "whitespace"
    result = store.reindex()
    assert result["indices"]["hits"] == f"{store.prefix}-hits-000002"
    assert list(call("GET", f"/_alias/{store.prefix}-hits")) == [f"{store.prefix}-hits-000002"]
    indices = {i["index"] for i in call("GET", "/_cat/indices", params={"format": "json"})}
    assert f"{store.prefix}-hits-000001" not in indices
    assert store.count_hits(HitQuery(text="保本")) == 2


def test_a_bad_location_is_one_clear_message(store_space):
    with pytest.raises(StoreError, match="index prefix"):
        open_store(f"{store_space.base_url}/Not Valid")
    port = free_port()
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        open_store(f"http://127.0.0.1:{port}")

    class NotACluster(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps({"hello": "world"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotACluster)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(StoreError, match="not Elasticsearch or OpenSearch"):
            open_store(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


def _tamper_first_bulk(store, status, error, victim_id):
    """Make the cluster answer ``status`` for the actions of one document in the next bulk, as a
    loaded (429) or refusing (400) cluster would; those actions are not sent."""
    real = store.transport.request
    state = {"done": False}

    def request(method, path, *, body=None, ndjson=None, params=None):
        if path != "/_bulk" or state["done"] or ndjson is None:
            return real(method, path, body=body, ndjson=ndjson, params=params)
        state["done"] = True
        lines = ndjson.splitlines()
        pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
        keep, fake = [], {}
        for n, (meta, source) in enumerate(pairs):
            op, info = next(iter(json.loads(meta).items()))
            if info["_id"] == victim_id or json.loads(source).get("doc_id") == victim_id:
                fake[n] = {op: {"_index": info["_index"], "_id": info["_id"], "status": status,
                                "error": error}}
            else:
                keep.append(n)
        answer = real(method, path, ndjson="".join(f"{pairs[n][0]}\n{pairs[n][1]}\n"
                                                   for n in keep), params=params)
        items = iter(answer["items"])
        answer["items"] = [fake[n] if n in fake else next(items) for n in range(len(pairs))]
        answer["errors"] = True
        return answer

    store.transport.request = request


def test_writes_refused_for_load_are_retried(store_space):
    store = store_space.open(retries=3, backoff=0.01)
    _tamper_first_bulk(store, 429, {"type": "es_rejected_execution_exception",
                                    "reason": "rejected execution of bulk"}, P2.id)
    report = store.write_documents(CRAWL)
    assert report.written == len(CRAWL) and not report.rejected and report.retries >= 1
    assert store.document(P2.id) is not None and store.count_hits() == 7


def test_documents_the_cluster_refuses_are_reported(store_space):
    store = store_space.open()
    _tamper_first_bulk(store, 400, {"type": "mapper_parsing_exception",
                                    "reason": "failed to parse field [text]"}, P1.id)
    report = store.write_documents(CRAWL)
    (rejected,) = report.rejected
    assert rejected.doc_id == P1.id and rejected.url == P1.url
    assert "mapper_parsing_exception" in rejected.reason
    assert report.written == len(CRAWL) - 1 and store.count_documents() == len(CRAWL) - 1


def test_a_short_outage_is_ridden_out_with_backoff(store_space):
    proxy = FlakyProxy(store_space.base_url)
    prefix = store_space.location().rsplit("/", 1)[1]
    store = store_space.open(f"{proxy.url}/{prefix}", retries=6, backoff=0.1)
    proxy.cut()
    threading.Timer(0.5, proxy.restore).start()
    report = store.write_documents(CRAWL)
    assert report.written == len(CRAWL) and report.retries >= 1
    assert store.count_hits() == 7
    proxy.cut()
    with pytest.raises(StoreUnavailable, match="did not answer"):
        store_space.opened.remove(store)
        store.retries, store.backoff = 1, 0.01
        store.write_documents(CRAWL)
    proxy.close()
