"""Mail through the queue to a real SMTP server: TLS, outages, a killed worker, the outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from service.mail import Mail, MailSettings, Sender, build_broker, enqueue_mail
from service.mail.messages import password_changed_notice, password_reset, verify_email
from tests.support.processes import RedisServer, wait_until
from tests.support.smtp import MailWorker, SmtpSink, self_signed_certificate, server_context

SENDER = Sender("Notes <no-reply@notes.test>", "https://notes.test")
TOKEN = "tok_" + "A" * 40  # what must never reach a production log


def enqueue(redis_url: str, *mails: Mail) -> None:
    """Queue as the service would: only REDIS_URL matters on this side."""

    async def run() -> None:
        settings = MailSettings(redis_url=redis_url, public_url=SENDER.public_url, mail_from=SENDER.mail_from)
        broker = build_broker(settings.validated())
        try:
            for mail in mails:
                await enqueue_mail(broker, mail)
        finally:
            await broker.close()

    asyncio.run(run())


@pytest.fixture
def start_worker(tmp_path: Path, private_redis: RedisServer) -> Iterator[Callable[..., MailWorker]]:
    started: list[MailWorker] = []

    def start(**environ: str) -> MailWorker:
        values = {
            "REDIS_URL": private_redis.url,
            "PUBLIC_URL": SENDER.public_url,
            "MAIL_FROM": SENDER.mail_from,
            "APP_ENV": "production",
            "MAIL_RETRY_BASE_DELAY": "0.2",
            "MAIL_RETRY_MAX_DELAY": "1",
            "SMTP_TIMEOUT": "5",
            "MAIL_RECLAIM_AFTER": "6",
            "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        } | environ
        worker = MailWorker(tmp_path / f"worker-{len(started)}.log", values)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def queue_is_empty(redis: RedisServer) -> bool:
    client = redis.client()
    return client.xlen("mail:stream") == 0 and client.zcard("mail:delayed") == 0


def test_starttls_with_login_delivers_and_keeps_secrets_out_of_the_log(
    tmp_path: Path, private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    sink = SmtpSink(starttls=server_context(cert, key), login=("mailer", "s3cret-pass"))
    try:
        worker = start_worker(
            SMTP_URL=f"smtp://mailer:s3cret-pass@127.0.0.1:{sink.port}", SMTP_CA_FILE=str(cert)
        )
        enqueue(private_redis.url, password_reset(SENDER, "ann@example.com", TOKEN, timedelta(minutes=30)))
        [received] = sink.wait_for(1)
    finally:
        sink.stop()
    assert received.tls and received.login == "mailer"
    assert received.recipients == ["ann@example.com"]
    assert received.message["Subject"] == "Reset your Notes password"
    assert TOKEN in received.message.get_body(("plain",)).get_content()
    # Delivered mail leaves Redis: its link is a live credential.
    wait_until(lambda: queue_is_empty(private_redis))
    assert TOKEN not in worker.log() and "s3cret-pass" not in worker.log()


def test_implicit_tls(
    tmp_path: Path, private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    sink = SmtpSink(implicit_tls=server_context(cert, key))
    try:
        start_worker(SMTP_URL=f"smtps://127.0.0.1:{sink.port}", SMTP_CA_FILE=str(cert))
        enqueue(private_redis.url, password_changed_notice(SENDER, "ann@example.com"))
        [received] = sink.wait_for(1)
    finally:
        sink.stop()
    assert received.tls and received.message["Subject"] == "Your Notes password was changed"


def test_a_relay_with_an_untrusted_certificate_gets_no_mail(
    tmp_path: Path, private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    sink = SmtpSink(starttls=server_context(cert, key))
    try:
        worker = start_worker(
            SMTP_URL=f"smtp://127.0.0.1:{sink.port}", MAIL_MAX_ATTEMPTS="2"
        )  # no SMTP_CA_FILE
        enqueue(private_redis.url, password_changed_notice(SENDER, "ann@example.com"))
        wait_until(lambda: "not delivered after 2 attempts" in worker.log())
        assert sink.received == []
    finally:
        sink.stop()


def test_mail_queued_during_an_smtp_outage_is_delivered_once_it_is_back(
    private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    sink = SmtpSink(start=False)  # the relay is down
    worker = start_worker(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
    enqueue(private_redis.url, verify_email(SENDER, "ann@example.com", TOKEN, timedelta(hours=24)))
    wait_until(lambda: worker.log().count("next in") >= 4, timeout=20)
    # The backoff doubles up to its cap: 0.2, 0.4, 0.8, then 1 s.
    for delay in ("next in 0.2 s", "next in 0.4 s", "next in 0.8 s", "next in 1.0 s"):
        assert delay in worker.log()
    sink.start()
    try:
        [received] = sink.wait_for(1)
        wait_until(lambda: queue_is_empty(private_redis))
        time.sleep(1.5)  # one more retry period: nothing else arrives
        assert len(sink.received) == 1
    finally:
        sink.stop()
    assert received.message["Subject"] == "Confirm your address for Notes"


def test_a_worker_killed_mid_send_loses_nothing(
    private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    sink = SmtpSink()
    sink.stall_next.set()
    try:
        first = start_worker(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        enqueue(private_redis.url, password_reset(SENDER, "ann@example.com", TOKEN, timedelta(minutes=30)))
        assert sink.stalled.wait(20), "the worker never reached DATA"
        first.kill()  # SIGKILL while the relay has not yet answered DATA
        sink.release.set()
        assert sink.received == []
        start_worker(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        # After MAIL_RECLAIM_AFTER the new worker takes over the mail the dead one held.
        [received] = sink.wait_for(1, timeout=30)
        wait_until(lambda: queue_is_empty(private_redis))
    finally:
        sink.stop()
    assert TOKEN in received.message.get_body(("plain",)).get_content()


def test_a_refused_recipient_is_not_retried(
    private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    sink = SmtpSink()
    sink.refuse.add("gone@example.com")
    try:
        worker = start_worker(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        enqueue(
            private_redis.url,
            password_changed_notice(SENDER, "gone@example.com"),
            password_changed_notice(SENDER, "ann@example.com"),
        )
        [received] = sink.wait_for(1)
        wait_until(lambda: "not delivered: every recipient refused (550)" in worker.log())
        time.sleep(1.5)  # longer than any retry delay: no second attempt comes
        assert sink.rcpt_attempts == 2
    finally:
        sink.stop()
    assert received.recipients == ["ann@example.com"]


def test_without_smtp_url_development_writes_the_outbox_and_logs_the_link(
    tmp_path: Path, private_redis: RedisServer, start_worker: Callable[..., MailWorker]
) -> None:
    mail = verify_email(SENDER, "ann@example.com", TOKEN, timedelta(hours=24))
    enqueue(private_redis.url, mail)  # before any worker ever ran: still delivered
    worker = start_worker(APP_ENV="development")
    outbox = tmp_path / "outbox"
    wait_until(lambda: outbox.is_dir() and any(outbox.glob("*.eml")))
    [path] = outbox.iterdir()  # no temporary file left beside it
    assert path.suffix == ".eml"
    written = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(written, EmailMessage) and written["To"] == "ann@example.com"
    assert f"https://notes.test/verify-email?token={TOKEN}" in written.get_body(("plain",)).get_content()
    wait_until(lambda: mail.link is not None and mail.link in worker.log())


def test_queued_mail_survives_a_redis_restart_and_the_worker_reconnects(
    tmp_path: Path, start_worker: Callable[..., MailWorker]
) -> None:
    directory = tmp_path / "durable-redis"
    directory.mkdir()
    redis = RedisServer(directory)
    redis.stop()
    # As config/redis.conf runs it: every write on disk before it is acknowledged.
    redis._command[redis._command.index("--appendonly") + 1] = "yes"
    redis._command += ["--appendfsync", "always"]
    redis.start()
    sink = SmtpSink()
    try:
        enqueue(redis.url, password_changed_notice(SENDER, "first@example.com"))
        redis.stop()
        redis.start()
        start_worker(REDIS_URL=redis.url, SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
        sink.wait_for(1)
        redis.stop()  # under the running worker
        redis.start()
        enqueue(redis.url, password_changed_notice(SENDER, "second@example.com"))
        received = sink.wait_for(2)
    finally:
        sink.stop()
        redis.stop()
    assert [mail.recipients for mail in received] == [["first@example.com"], ["second@example.com"]]
