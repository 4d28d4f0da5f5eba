"""The webhook notifier: a Slack-compatible JSON POST. The URL is a secret: never in errors."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from alerts.errors import NotifyError
from alerts.notifiers.notice import Notice


class WebhookNotifier:
    name = "webhook"

    def __init__(self, url: SecretStr, timeout_s: float) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, notice: Notice) -> None:
        try:
            response = await self._client.post(
                self._url.get_secret_value(), json=notice.slack_payload()
            )
        except httpx.HTTPError as exc:
            # str(exc) may include the URL: name only the kind of failure.
            raise NotifyError(f"webhook: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise NotifyError(f"webhook: HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
