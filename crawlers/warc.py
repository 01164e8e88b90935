"""WARC evidence: every response the crawler fetches, kept as ISO 28500 records.

``WarcMiddleware`` (a downloader middleware next to the downloader, so it sees each response as
it came off the wire: before decompression, redirects and retries) writes a ``response`` record
(the real status line and headers, and the body as transmitted) and a ``request`` record linked
to it by ``WARC-Concurrent-To`` into gzip WARC files, one gzip member per record. Pages rendered
by Chromium (scrapy-playwright) are recorded the same way, with what the browser returned (the
navigation's status and headers, the rendered DOM as body) and the extension header
``WARC-Jinjian-Rendered: true``. The screenshot phase's browser records the main document of
each page it shoots (``record_browser_response``: the response as Chromium received it, the
body decoded from its content-encoding), with ``WARC-Jinjian-Fetched-By: screenshot``; the
screenshot's record names it (``warc``), the page's own reference stays the crawl's record.

Files: ``JINJIAN_WARC_DIR`` (default ``default_warc_dir(JINJIAN_STORE)``), named
``jinjian-<crawl start, UTC>-<spider>-<serial>.warc.gz``, each starting with a ``warcinfo``
record and rotated once it holds ``JINJIAN_WARC_MAX_BYTES`` (100 MiB). A file being written is
``….warc.gz.open`` (locked) and renamed when closed; every record is flushed as it is written, so
a killed crawl leaves a readable file, and the next crawl cuts a half-written last record off
and renames it (``recover``).

Each response's reference goes into ``request.meta["warc"]`` (see ``Ref``): the spiders copy it
onto the pages and ad units they extract from that response, and the store keeps it with the
document. ``read_record`` reads a record back and checks it against the reference.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import logging
import os
import socket
import time
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from indexer.spool import default_spool_dir

logger = logging.getLogger(__name__)

SUFFIX = ".warc.gz"
OPEN_SUFFIX = ".open"  # a file being written: SUFFIX + OPEN_SUFFIX
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
RENDERED_HEADER = "WARC-Jinjian-Rendered"
RENDER_REASON_HEADER = "WARC-Jinjian-Render-Reason"
FETCHED_BY_HEADER = "WARC-Jinjian-Fetched-By"
# headers that describe the bytes on the wire, not the body as recorded: kept under another name
_WIRE_HEADERS = ("transfer-encoding",)
_RENDERED_WIRE_HEADERS = ("transfer-encoding", "content-encoding", "content-length")

# A reference, as kept in response.meta["warc"] and with each document in the store:
#   file            the WARC file's name, relative to the WARC folder
#   offset, length  where the response record's gzip member starts in the file, and its size
#   record_id       WARC-Record-ID of the response record
#   target_uri      WARC-Target-URI (the URL fetched)
#   date            WARC-Date (when it was fetched, UTC)
#   status          HTTP status
#   block_digest    WARC-Block-Digest (sha256, base32: HTTP headers and body)
#   payload_digest  WARC-Payload-Digest (sha256, base32: the body)
#   body_sha256     SHA-256 of the body as recorded, hex
#   rendered        whether the record holds what Chromium rendered
# A rendered page's reference also names the static fetch it was rendered from: "static".
Ref = dict[str, Any]


class EvidenceError(Exception):
    """A WARC record cannot be found, or does not match its reference: the evidence is missing,
    damaged or was altered."""


def default_warc_dir(location: str) -> Path:
    """Where a crawl into store ``location`` keeps its WARC files: ``STORE/warc`` beside an
    embedded store; for a cluster, ``jinjian-warc/<cluster>`` beside its spool folder (see
    ``indexer.spool.default_spool_dir``)."""
    if not str(location).startswith(("http://", "https://")):
        return Path(location) / "warc"
    spool = default_spool_dir(str(location))
    return spool.parent.parent / "jinjian-warc" / spool.name


def _stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


class _Writer(WARCWriter):
    """warcio's writer with SHA-256 block and payload digests."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def sha256_label(digest: bytes) -> str:
    """A SHA-256 digest as WARC digest headers spell it (``sha256:`` and base32)."""
    return "sha256:" + base64.b32encode(digest).decode("ascii")


class RotatingWarcWriter:
    """Gzip WARC files in ``directory``, rotated by size; one writer per crawl and spider."""

    def __init__(self, directory: str | Path, *, name: str = "crawl",
                 max_bytes: int = DEFAULT_MAX_BYTES, started: str | None = None,
                 info: dict[str, str] | None = None, sync_every: float = 1.0) -> None:
        self.dir = Path(directory)
        self.name = name
        self.max_bytes = max(1, int(max_bytes))
        self.started = started or _stamp()
        self.info = dict(info or {})
        self.sync_every = sync_every
        self.serial = 0
        self.file: IO[bytes] | None = None
        self.path: Path | None = None  # the final name of the file being written
        self.writer = _Writer(None, gzip=True)
        self.files: list[Path] = []  # every file this writer made, by final name
        self._synced = time.monotonic()

    # --- files -----------------------------------------------------------------------------

    def _open_next(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        while True:
            self.serial += 1
            path = self.dir / f"jinjian-{self.started}-{self.name}-{self.serial:05d}{SUFFIX}"
            partial = path.with_name(path.name + OPEN_SUFFIX)
            if path.exists():
                continue
            try:
                f = open(partial, "xb")  # noqa: SIM115 - kept open until rotated or closed
            except FileExistsError:
                continue
            break
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        self.file, self.path = f, path
        self.writer.out = f
        info = {"software": "jinjian/0.1 (Scrapy; warcio)", "format": "WARC File Format 1.0",
                "conformsTo": "http://iipc.github.io/warc-specifications/specifications/"
                              "warc-format/warc-1.0/",
                "hostname": socket.gethostname(), "isPartOf": f"jinjian-{self.started}",
                **self.info}
        self.writer.write_record(self.writer.create_warcinfo_record(path.name, info))
        self.files.append(path)

    def _close_file(self) -> None:
        if self.file is None or self.path is None:
            return
        f, path = self.file, self.path
        self.file = self.path = None
        f.flush()
        os.fsync(f.fileno())
        os.replace(path.with_name(path.name + OPEN_SUFFIX), path)
        f.close()  # releases the lock, after the rename
        _fsync_dir(path.parent)

    def close(self) -> None:
        self._close_file()

    # --- records ---------------------------------------------------------------------------

    def _write(self, record: Any) -> tuple[int, int]:
        assert self.file is not None
        start = self.file.tell()
        self.writer.write_record(record)  # flushes the gzip member and the file
        return start, self.file.tell() - start

    def write_exchange(self, method: str, url: str, request_headers: list[tuple[str, str]],
                       request_body: bytes, status: int, protocol: str,
                       response_headers: list[tuple[str, str]], body: bytes, *,
                       target_uri: str | None = None, rendered: bool = False,
                       render_reason: str = "", ip_address: str = "",
                       fetched_by: str = "") -> Ref:
        """Write a response record and its request record; return the response's reference."""
        if self.file is None or self.file.tell() >= self.max_bytes:
            self._close_file()
            self._open_next()
        assert self.path is not None
        uri = target_uri or url
        reason = _reason(status)
        http = StatusAndHeaders(f"{status} {reason}".strip(), response_headers,
                                protocol=protocol or "HTTP/1.1")
        extra = {"WARC-IP-Address": ip_address} if ip_address else {}
        if rendered:
            extra[RENDERED_HEADER] = "true"
            if render_reason:
                extra[RENDER_REASON_HEADER] = render_reason
        if fetched_by:
            extra[FETCHED_BY_HEADER] = fetched_by
        response = self.writer.create_warc_record(
            uri, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict=extra)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not any(k.lower() == "host" for k, _ in request_headers):
            request_headers = [("Host", parts.netloc), *request_headers]
        req_http = StatusAndHeaders(f"{method} {target} HTTP/1.1", request_headers,
                                    is_http_request=True)
        request = self.writer.create_warc_record(
            url, "request", payload=io.BytesIO(request_body), length=len(request_body),
            http_headers=req_http,
            warc_headers_dict={RENDERED_HEADER: "true"} if rendered else {})
        headers = response.rec_headers
        request.rec_headers.replace_header("WARC-Date", headers.get_header("WARC-Date"))
        request.rec_headers.add_header("WARC-Concurrent-To", headers.get_header("WARC-Record-ID"))
        offset, length = self._write(response)
        self._write(request)
        if self.sync_every >= 0 and time.monotonic() - self._synced >= self.sync_every:
            assert self.file is not None
            os.fsync(self.file.fileno())
            self._synced = time.monotonic()
        return {
            "file": self.path.name, "offset": offset, "length": length,
            "record_id": headers.get_header("WARC-Record-ID"), "target_uri": uri,
            "date": headers.get_header("WARC-Date"), "status": int(status),
            "block_digest": headers.get_header("WARC-Block-Digest"),
            "payload_digest": headers.get_header("WARC-Payload-Digest"),
            "body_sha256": hashlib.sha256(body).hexdigest(), "rendered": bool(rendered),
        }


async def record_browser_response(writer: RotatingWarcWriter, response: Any, *,
                                  max_bytes: int, fetched_by: str) -> Ref:
    """Write the exchange of a Playwright ``response`` (its request, status, headers and body
    as the browser received them); return the response's reference. Raises ``EvidenceError``
    for a body over ``max_bytes``, ``OSError`` when the file cannot be written."""
    body = await response.body()
    if len(body) > max_bytes:
        raise EvidenceError(f"{response.url}: the body ({len(body)} bytes) is larger than "
                            f"{max_bytes} bytes: not recorded")
    request = response.request
    request_headers = [(h["name"], h["value"]) for h in await request.headers_array()]
    headers = [(h["name"], h["value"]) for h in await response.headers_array()
               if h["name"].lower() not in _RENDERED_WIRE_HEADERS]
    headers.append(("Content-Length", str(len(body))))
    server = await response.server_addr()
    return writer.write_exchange(
        request.method, request.url, request_headers, request.post_data_buffer or b"",
        response.status, "HTTP/1.1", headers, body, target_uri=response.url,
        ip_address=(server or {}).get("ipAddress", ""), fetched_by=fetched_by)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- a crawl killed mid-write ----------------------------------------------------------------

def complete_length(f: IO[bytes]) -> int:
    """How many leading bytes of a gzip WARC file are whole gzip members (whole records)."""
    f.seek(0)
    data = f.read()
    good = pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            d.decompress(data[pos:])
        except zlib.error:
            break
        if not d.eof:
            break
        pos = len(data) - len(d.unused_data)
        good = pos
    return good


def recover(directory: str | Path) -> list[Path]:
    """Close the files that a killed crawl left open in ``directory``: cut a half-written last
    record off and rename each to its final name. Files another crawl is writing are left."""
    recovered = []
    folder = Path(directory)
    if not folder.is_dir():
        return recovered
    for partial in sorted(folder.glob(f"*{SUFFIX}{OPEN_SUFFIX}")):
        try:
            f = open(partial, "r+b")  # noqa: SIM115
        except OSError:
            continue
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live crawl is writing it
            size = os.fstat(f.fileno()).st_size
            good = complete_length(f)
            if good < size:
                logger.warning("%s: cut %d bytes of a half-written record off", partial,
                               size - good)
                f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
            final = partial.with_name(partial.name[:-len(OPEN_SUFFIX)])
            if final.exists():
                logger.error("%s: not renamed, %s exists", partial, final.name)
                continue
            os.replace(partial, final)
            recovered.append(final)
    if recovered:
        _fsync_dir(folder)
    return recovered


# --- reading evidence back -------------------------------------------------------------------

def _locate(warc_dir: str | Path, name: str) -> Path:
    if not name or Path(name).name != name:
        raise EvidenceError(f"{name!r}: not a WARC file name")
    folder = Path(warc_dir)
    for candidate in (folder / name, folder / (name + OPEN_SUFFIX)):
        if candidate.exists():
            return candidate
    raise EvidenceError(f"{folder / name}: no such WARC file")


def read_record(warc_dir: str | Path, ref: Ref) -> tuple[StatusAndHeaders, bytes]:
    """The HTTP status line and headers, and the body as recorded, of the response record that
    ``ref`` names; its digests and SHA-256 are checked against the record and the reference.

    Raises ``EvidenceError`` when the file is missing, or when the record cannot be read or does
    not match: the evidence was altered or damaged.
    """
    if not ref or "file" not in ref:
        raise EvidenceError("no WARC reference")
    path = _locate(warc_dir, str(ref["file"]))
    where = f"{path}@{ref.get('offset')}"
    try:
        offset, length = int(ref["offset"]), int(ref["length"])
    except (KeyError, TypeError, ValueError):
        raise EvidenceError(f"{path}: the reference has no offset and length") from None
    with open(path, "rb") as f:
        f.seek(offset)
        member = f.read(length)
    if len(member) != length:
        raise EvidenceError(f"{where}: the file ends inside the record (damaged or cut short)")
    d = zlib.decompressobj(wbits=31)
    try:
        raw = d.decompress(member) + d.flush()
    except zlib.error as exc:
        raise EvidenceError(f"{where}: the record does not decompress ({exc}): the file was "
                            "altered or damaged") from None
    if not d.eof or d.unused_data:
        raise EvidenceError(f"{where}: the record's length does not match the file: "
                            "altered or damaged")
    try:
        records = ArchiveIterator(io.BytesIO(raw), check_digests="raise")
        record = next(iter(records))
        http = record.http_headers
        body = record.raw_stream.read()
        records.read_to_end()
    except (ArchiveLoadFailed, StopIteration, ValueError, EOFError) as exc:
        raise EvidenceError(f"{where}: not a valid WARC record ({exc}): altered or "
                            "damaged") from None
    headers = record.rec_headers
    checks = [("WARC-Record-ID", headers.get_header("WARC-Record-ID"), ref.get("record_id")),
              ("WARC-Payload-Digest", headers.get_header("WARC-Payload-Digest"),
               ref.get("payload_digest")),
              ("WARC-Block-Digest", headers.get_header("WARC-Block-Digest"),
               ref.get("block_digest")),
              ("body SHA-256", hashlib.sha256(body).hexdigest(), ref.get("body_sha256")),
              ("payload digest of the body", sha256_label(hashlib.sha256(body).digest()),
               headers.get_header("WARC-Payload-Digest"))]
    for what, found, expected in checks:
        if expected and found != expected:
            raise EvidenceError(f"{where}: {what} is {found}, the reference says {expected}: "
                                "the evidence was altered")
    if record.rec_type != "response" or http is None:
        raise EvidenceError(f"{where}: a {record.rec_type} record, not a response")
    return http, body


def decoded_body(headers: StatusAndHeaders, body: bytes) -> bytes:
    """``body`` without its Content-Encoding (gzip, deflate, br, zstd), as a browser reads it."""
    encoding = (headers.get_header("Content-Encoding") or "").strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, wbits=47)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, wbits=-15)
        if encoding == "br":
            import brotli

            return brotli.decompress(body)
        if encoding == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    except Exception as exc:  # noqa: BLE001 - any codec's error: say which
        raise EvidenceError(f"the body does not decode as {encoding}: {exc}") from None
    return body


# --- the downloader middleware ---------------------------------------------------------------

def _header_list(headers: Any, rename: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    out = []
    for name, values in headers.items():
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        if key.lower() in rename:
            key = f"X-Archive-Orig-{key}"
        for value in values:
            out.append((key, value.decode("latin-1") if isinstance(value, bytes) else str(value)))
    return out


class WarcMiddleware:
    """Records every downloaded response (and its request) in WARC files; puts the response's
    reference in ``request.meta["warc"]``.

    Settings: ``JINJIAN_WARC_DIR`` (default: ``default_warc_dir(JINJIAN_STORE)``),
    ``JINJIAN_WARC_MAX_BYTES`` (rotation size, 100 MiB).
    """

    def __init__(self, crawler: Crawler, directory: Path, max_bytes: int) -> None:
        self.crawler = crawler
        self.dir = directory
        self.max_bytes = max_bytes
        self.writer: RotatingWarcWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcMiddleware:
        s = crawler.settings
        directory = Path(s.get("JINJIAN_WARC_DIR") or default_warc_dir(s.get("JINJIAN_STORE")))
        mw = cls(crawler, directory, s.getint("JINJIAN_WARC_MAX_BYTES", DEFAULT_MAX_BYTES))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        for path in recover(self.dir):
            logger.warning("closed a WARC file a killed crawl left open: %s", path)
        s = self.crawler.settings
        self.writer = RotatingWarcWriter(
            self.dir, name=spider.name, max_bytes=self.max_bytes,
            info={"http-header-user-agent": s.get("USER_AGENT") or "",
                  "robots": "obey" if s.getbool("ROBOTSTXT_OBEY") else "ignore",
                  "description": f"jinjian {spider.name} crawl"})

    def spider_closed(self, spider: Spider) -> None:
        if self.writer is not None:
            self.writer.close()
            self.crawler.stats.set_value("jinjian/warc/files", len(self.writer.files))

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Response:
        if self.writer is None:  # used without the signals (a test, a bare download)
            self.writer = RotatingWarcWriter(self.dir, name=getattr(spider, "name", "crawl"),
                                             max_bytes=self.max_bytes)
        rendered = "playwright" in (response.flags or []) or bool(request.meta.get("playwright"))
        response_headers = _header_list(
            response.headers, _RENDERED_WIRE_HEADERS if rendered else _WIRE_HEADERS)
        if rendered:
            response_headers.append(("Content-Length", str(len(response.body))))
        try:
            ref = self.writer.write_exchange(
                request.method, request.url, _header_list(request.headers), request.body or b"",
                response.status, getattr(response, "protocol", None) or "HTTP/1.1",
                response_headers, response.body, target_uri=response.url, rendered=rendered,
                render_reason=str(request.meta.get("render_reason", "")) if rendered else "",
                ip_address=str(response.ip_address) if response.ip_address else "")
        except OSError as exc:  # a full disk must not stop the crawl; it is loud, though
            logger.error("WARC record not written for %s: %s", response.url, exc)
            self.crawler.stats.inc_value("jinjian/warc/errors")
            request.meta.pop("warc", None)
            return response
        request.meta["warc"] = ref
        self.crawler.stats.inc_value("jinjian/warc/records", 2)
        self.crawler.stats.inc_value("jinjian/warc/bytes", len(response.body))
        return response
