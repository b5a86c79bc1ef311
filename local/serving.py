"""A WSGI app served on a loopback port from a background thread (the local stand-ins)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import make_server


class BackgroundServer:
    def __init__(self, app: Any, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the output
        self.app = app
        self.httpd = make_server(host, port, app, threaded=True)
        self.port = self.httpd.server_port
        self.url = f"http://{host}:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
