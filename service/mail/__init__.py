"""Mail: message builders, a Redis-backed queue (taskiq) and the worker that delivers over SMTP."""

from service.mail.messages import Mail, Sender
from service.mail.queue import MailBroker, build_broker, enqueue_mail
from service.mail.settings import MailSettings, parse_smtp_url

__all__ = ["Mail", "MailBroker", "MailSettings", "Sender", "build_broker", "enqueue_mail", "parse_smtp_url"]
