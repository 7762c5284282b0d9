"""WSS: `manage.py serve` serves TLS itself when given a certificate and key."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.security.scenarios import stalled_reader_scenario
from tests.security.wsclient import authed

pytestmark = pytest.mark.live


def self_signed(directory) -> tuple[str, str]:
    """A certificate for localhost / 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_wss_and_https_on_the_platform_port(users, tmp_path, server):
    cert, key = self_signed(tmp_path)
    proc = users.start(server, WS_TLS_CERT=cert, WS_TLS_KEY=key, DEBUG="false")
    trust = ssl.create_default_context(cafile=cert)

    # Production accepts only registered tokens (WS_REQUIRE_REGISTERED_TOKENS): mint one.
    token = users.manage("ws_token", "viewer", "--permissions", "stats.view", "--expires", "1h").stdout.strip()
    client = await authed(f"wss://127.0.0.1:{proc.port}", token, ssl_context=trust)
    assert (await client.request("ping", request_id="tls"))["event"] == "pong"
    await client.close()

    # HTTPS on the same port, with the production headers (HSTS only ever over TLS).
    response = await asyncio.to_thread(
        urllib.request.urlopen, f"https://127.0.0.1:{proc.port}/admin/login/", context=trust
    )
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    cookies = headers.get_all("Set-Cookie")
    assert cookies and all("Secure" in c and "SameSite=Lax" in c for c in cookies)

    # A client that does not trust the certificate is refused by its own TLS check.
    with pytest.raises(ssl.SSLCertVerificationError):
        await authed(f"wss://127.0.0.1:{proc.port}", "x", ssl_context=ssl.create_default_context())


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_a_client_that_stops_reading_over_tls_is_cut_off_too(users, tmp_path, server):
    """The backlog of a TLS connection (TLS layer + TCP buffer) is bounded as well."""
    cert, key = self_signed(tmp_path)
    proc = users.start(server, WS_TLS_CERT=cert, WS_TLS_KEY=key, WS_MAX_OUTBOUND_BYTES="262144")
    trust = ssl.create_default_context(cafile=cert)
    await stalled_reader_scenario(proc, f"wss://127.0.0.1:{proc.port}", ssl_context=trust)
