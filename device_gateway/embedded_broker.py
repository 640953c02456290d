"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for the one-command development setup."""

import asyncio
import logging
import threading

from amqtt.broker import Broker

logger = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0


class EmbeddedBroker:
    """Runs amqtt on its own event loop in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1884) -> None:
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S) or self._error:
            raise RuntimeError(f"the embedded MQTT broker did not start on {self.host}:{self.port}") from self._error
        logger.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(timeout=START_TIMEOUT_S)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); the thread ends
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        broker = Broker(self._config())
        await broker.start()
        self._started.set()
        await self._stopping.wait()
        await broker.shutdown()

    def _config(self) -> dict[str, object]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
