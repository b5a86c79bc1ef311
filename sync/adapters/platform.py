"""The PlatformEndpoint port on requests: POST a notification to PLATFORM_WEBHOOK_URL."""

from __future__ import annotations

import threading

import requests

from sync.kernel.errors import PlatformUnreachable


class PlatformWebhook:
    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def _http(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # one pool per thread, reused across requests
            self._local.session = requests.Session()
        return self._local.session

    def post(self, body: bytes, headers: dict[str, str], timeout: float) -> int:
        try:
            # Only the status matters: the body is never read (stream=True), however large the platform makes it.
            answer = self._http().post(self.url, data=body, headers=headers, timeout=timeout, allow_redirects=False,
                                       stream=True)
            answer.close()
        except requests.Timeout:
            raise PlatformUnreachable("platform timeout", timed_out=True) from None
        except requests.RequestException as exc:
            raise PlatformUnreachable(type(exc).__name__) from None
        return int(answer.status_code)
