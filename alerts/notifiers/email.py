"""The e-mail notifier: plain-text mail over SMTP, STARTTLS by default (stdlib, in a thread)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from pydantic import SecretStr

from alerts.errors import NotifyError
from alerts.notifiers.notice import Notice


class EmailNotifier:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.username, self._password = username, password
        self.starttls, self.timeout_s = starttls, timeout_s
        self.ssl_context = ssl_context or ssl.create_default_context()

    def message(self, notice: Notice) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = notice.title
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["X-Moodwatch-Episode"] = notice.episode.id
        mail.set_content("\n".join(notice.summary_lines()))
        return mail

    def _send_now(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=self.ssl_context)
            if self.username and self._password is not None:
                smtp.login(self.username, self._password.get_secret_value())
            smtp.send_message(mail)

    async def send(self, notice: Notice) -> None:
        try:
            await asyncio.to_thread(self._send_now, self.message(notice))
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"email via {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from None

    async def close(self) -> None:
        return None
