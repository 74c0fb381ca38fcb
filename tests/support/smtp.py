"""A real SMTP server (aiosmtpd) on loopback, a self-signed certificate for it, and mail workers.

The server keeps its port across ``stop()`` and ``start()``, so a test can
take the relay down in the middle of a flow and bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import ROOT, free_port, wait_until


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, as PEM files; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
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
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.sink.rcpt_attempts += 1
        if address in self.sink.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.stall_next.is_set():
            # Hold the client at the end of DATA, as a relay that is slow to answer would.
            self.sink.stall_next.clear()
            self.sink.stalled.set()
            await asyncio.to_thread(self.sink.release.wait, 30)
            return "451 4.3.0 try again later"
        login = session.auth_data.decode() if session.authenticated else None
        # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink.lock:
            self.sink.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, tls, login)
            )
        return "250 OK"


class _CountingSMTP(SMTP):
    """aiosmtpd's protocol, counting its open connections on the sink."""

    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._sink.lock:
            self._sink.open_connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        with self._sink.lock:
            self._sink.open_connections -= 1


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        return _CountingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """aiosmtpd on 127.0.0.1: plain, with STARTTLS, or implicit TLS; optionally with a required login."""

    def __init__(
        self,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.rcpt_attempts = 0
        self.open_connections = 0
        self.refuse: set[str] = set()
        self.lock = threading.Lock()
        self.stall_next, self.stalled, self.release = threading.Event(), threading.Event(), threading.Event()
        self._login = login
        self._kwargs: dict[str, Any] = {}
        if starttls is not None:
            self._kwargs["tls_context"] = starttls
        if implicit_tls is not None:
            self._kwargs["ssl_context"] = implicit_tls
        if login is not None:
            self._kwargs |= {"authenticator": self._authenticate, "auth_required": True}
            # aiosmtpd refuses AUTH before TLS unless told otherwise; with TLS it stays refused.
            self._kwargs["auth_require_tls"] = starttls is not None or implicit_tls is not None
        self._controller: Controller | None = None
        if start:
            self.start()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self._login
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    def start(self) -> None:
        self._controller = _Controller(
            self, _Handler(self), hostname="127.0.0.1", port=self.port, **self._kwargs
        )
        self._controller.start()

    def stop(self) -> None:
        self.release.set()
        # A client that just sent its mail is still saying QUIT: stopping the
        # loop under it would leave its transport unclosed (a ResourceWarning,
        # an error here). A test that takes the relay down mid-session waits
        # the 2 s and then cuts it.
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: self.open_connections == 0, timeout=2.0)
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self.release.clear()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        wait_until(lambda: len(self.received) >= count, timeout=timeout)
        return list(self.received)


class MailWorker:
    """``python -m service.mail.worker`` as a child process, its output in a log file."""

    def __init__(self, log: Path, environ: Mapping[str, str]) -> None:
        self.log_path = log
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SMTP_", "MAIL_"))}
        env |= {"PYTHONPATH": str(ROOT), **environ}
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.mail.worker"], cwd=ROOT, env=env, stdout=output, stderr=output
            )
        wait_until(lambda: "mail worker started" in self.log() or self.process.poll() is not None, timeout=20)
        if self.process.poll() is not None:
            raise RuntimeError(f"the mail worker exited: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to finish, acknowledge or clean up."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
