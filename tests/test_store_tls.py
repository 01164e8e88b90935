"""A search cluster behind TLS with a private CA (``$JINJIAN_STORE_CA``): the real clients
(opensearch-py, elasticsearch-py, and the probe) against osmem-server and noida-db, each behind a
TLS terminator on loopback (Python's ``ssl``) whose certificate a CA made here signed."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
import uuid

import pytest

from indexer import HitQuery, StoreError, open_store
from tests.test_store_conformance import CRAWL, load

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_server_cert(ca_key, ca_cert) -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and localhost signed by the CA, and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _pem(cert), key_pem


class TLSTerminator:
    """TLS on a loopback port, forwarded as plain HTTP to ``upstream`` (host, port): what a
    deployment's nginx or the cluster's own TLS layer does in front of the nodes."""

    def __init__(self, upstream: tuple[str, int], cert_file: str, key_file: str) -> None:
        self.upstream = upstream
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.loop = asyncio.new_event_loop()
        # a client that refuses the certificate ends its handshake: not this server's error
        self.loop.set_exception_handler(lambda loop, ctx: None)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The private CA's file, a wrong CA's file, the server's certificate and key files."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("jinjian test CA")
    _, other_cert = make_ca("someone else's CA")
    cert_pem, key_pem = make_server_cert(ca_key, ca_cert)
    files = {"ca": _pem(ca_cert), "wrong_ca": _pem(other_cert), "cert": cert_pem, "key": key_pem,
             "junk": b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"}
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return {name: str(folder / f"{name}.pem") for name in files}


@pytest.fixture(scope="module", params=["opensearch", "elasticsearch"])
def tls_cluster(request, pki):
    """(backend, https URL) of osmem-server or noida-db behind a TLS terminator."""
    from urllib.parse import urlsplit

    if request.param == "opensearch":
        base = request.getfixturevalue("osmem_base").clone()
        url = base.url
    else:
        base, url = None, request.getfixturevalue("noida_es")
    parts = urlsplit(url)
    terminator = TLSTerminator((parts.hostname, parts.port), pki["cert"], pki["key"])
    yield request.param, terminator.url
    terminator.close()
    if base is not None:
        base.close()


def test_the_right_ca_connects_and_serves_the_store(tls_cluster, pki, cli):
    backend, url = tls_cluster
    location = f"{url}/tls-{uuid.uuid4().hex[:8]}"
    with open_store(location, ca_file=pki["ca"], retries=0) as store:
        assert store.describe().startswith(
            "OpenSearch" if backend == "opensearch" else "Elasticsearch")
        load(store)
        assert store.count_hits(HitQuery(category=5)) == 2
    # and the command line, with the CA from the environment
    result = cli("hits", "--category", "5", "--format", "json", "--store", location,
                 env={"JINJIAN_STORE_CA": pki["ca"]})
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    with open_store(location, ca_file=pki["ca"], create=False) as store:
        store.destroy()


@pytest.mark.parametrize("ca", ["wrong_ca", None])
def test_a_certificate_from_another_ca_is_one_clear_error(tls_cluster, pki, cli, ca):
    _, url = tls_cluster
    with pytest.raises(StoreError, match="TLS certificate is not trusted.*JINJIAN_STORE_CA"):
        open_store(f"{url}/x", ca_file=pki[ca] if ca else None, retries=0)
    result = cli("hits", "--store", f"{url}/x", env={"JINJIAN_STORE_CA": pki[ca]} if ca else {})
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "certificate is not trusted" in result.stderr and url in result.stderr


@pytest.mark.parametrize("name, message", [
    ("missing", "no such file"), ("junk", "not a PEM file of CA certificates"),
    ("key", "not a PEM file of CA certificates")])
def test_a_bad_ca_file_is_named(tls_cluster, pki, cli, name, message):
    _, url = tls_cluster
    path = pki.get(name, f"{pki['ca']}.missing")
    result = cli("hits", "--store", f"{url}/x", env={"JINJIAN_STORE_CA": path})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"JINJIAN_STORE_CA {path}: {message}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_plain_http_cluster_ignores_the_ca(pki, osmem_base):
    clone = osmem_base.clone()
    try:
        with open_store(f"{clone.url}/plain", ca_file=pki["wrong_ca"], retries=0) as store:
            assert store.count_hits() == 0
            load(store, CRAWL[:1])
            assert store.count_hits() == 2
    finally:
        clone.close()
