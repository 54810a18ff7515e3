"""A fake Vonage Voice API on loopback HTTPS, to time /stream without Vonage or a network.

It answers `PUT /v1/calls/{uuid}/stream` after a fixed delay (the API's own latency) with the
body Vonage documents, and counts every request, so the benchmark can tell what it expected
from anything else. The SDK only speaks https:// to the API host, so the fake needs TLS: a
throwaway CA and a certificate for 127.0.0.1 are made at run time, and the server under test
trusts the CA through REQUESTS_CA_BUNDLE. Nothing here is ever written outside a temp folder.
"""

import datetime
import ipaddress
import json
import re
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

STREAM_PATH = re.compile(r"/v1/calls/([0-9A-Za-z-]+)/stream")


def make_tls_files(folder):
    """Write a CA (ca.pem) and a certificate for 127.0.0.1 signed by it (cert.pem, key.pem).

    A separate CA rather than one self-signed leaf, because strict verifiers (Python 3.13's
    default context) refuse a certificate that is both the trust anchor and the server.
    Returns the three paths.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench fake Voice API CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _key_usage(*, cert_sign):
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class FakeVoiceApi:
    """The fake API, served from a background thread of this process until `stop()`.

    `host` is what VONAGE_API_HOST takes, `ca_file` what REQUESTS_CA_BUNDLE takes, and
    `counts()` how many requests it got: "stream" for well-formed PUTs, "unexpected" for the rest.
    """

    def __init__(self, folder, delay=0.05):
        self.delay = delay
        self.ca_file, cert_file, key_file = make_tls_files(folder)
        self._counts = Counter()
        self._lock = threading.Lock()
        self.unexpected = []  # "METHOD /path" of each request that was not a stream start

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def counts(self):
        with self._lock:
            return dict(self._counts)

    def record(self, kind, what):
        with self._lock:
            self._counts[kind] += 1
            if kind == "unexpected":
                self.unexpected.append(what)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as Vonage does: the SDK's session reuses its connection between calls.
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes; with Nagle's algorithm on, the body
        # waits for the client's delayed ACK of the headers (40 ms on Linux), which is not the
        # latency this fake is meant to have.
        disable_nagle_algorithm = True

        def do_PUT(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = STREAM_PATH.fullmatch(self.path)
            signed = (self.headers.get("Authorization") or "").startswith("Bearer ")
            if not (match and signed and _json_object(body)):
                return self._unexpected()
            time.sleep(api.delay)  # the Voice API's own latency, which is not ours
            api.record("stream", self.path)
            self._reply(200, {"message": "Stream started", "uuid": match[1]})

        def do_GET(self):
            self._unexpected()

        do_POST = do_DELETE = do_PATCH = do_GET

        def _unexpected(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            api.record("unexpected", f"{self.command} {self.path}")
            self._reply(404, {"title": "Not found", "detail": "not a route of this fake"})

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass  # the counts are the record; a line per request would only slow it down

    return Handler


def _json_object(body):
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False
