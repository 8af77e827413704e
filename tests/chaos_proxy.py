"""A small HTTP proxy for fault tests: it can hold or drop a request before it reaches the upstream,
or hold or drop the upstream's reply before it reaches the client (reliability.md D3).

One request per client connection (it forwards with `Connection: close`), so every rule sees
every request. A rule matches a path substring, once unless `times` says more:

    proxy = ChaosProxy("127.0.0.1", 8001).start()
    gate = proxy.hold("/mpesa/b2c/", phase="reply")   # Daraja answered; we have not heard yet
    assert gate.arrived.wait(10)
    ...kill something...
    gate.drop()                                        # or gate.release()
"""
import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class Gate:
    path_part: str
    phase: str                      # "request": before the upstream sees it; "reply": after it answered
    times: int = 1
    arrived: threading.Event = field(default_factory=threading.Event)
    decided: threading.Event = field(default_factory=threading.Event)
    verdict: str = "release"        # or "drop"
    path: str | None = None         # the request that was caught

    def release(self) -> None:
        self.verdict = "release"
        self.decided.set()

    def drop(self) -> None:
        self.verdict = "drop"
        self.decided.set()


class ChaosProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.rules: list[Gate] = []
        self.seen: list[tuple[str, str]] = []      # (method, path) of every request, in order
        self.latency = 0.0                         # seconds added before forwarding and before replying
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self.port = 0

    def start(self) -> "ChaosProxy":
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True, name="chaos-proxy").start()
        ready.wait(5)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, path_part: str, phase: str = "request", times: int = 1) -> Gate:
        gate = Gate(path_part, phase, times)
        with self._lock:
            self.rules.append(gate)
        return gate

    def clear(self) -> None:
        with self._lock:
            for gate in self.rules:
                gate.release()
            self.rules.clear()
            self.seen.clear()
            self.latency = 0.0

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def _take_rule(self, path: str, phase: str) -> Gate | None:
        with self._lock:
            for gate in self.rules:
                if gate.phase == phase and gate.times > 0 and gate.path_part in path:
                    gate.times -= 1
                    gate.path = path
                    return gate
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = next((int(line.split(":", 1)[1]) for line in lines
                           if line.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            with self._lock:
                self.seen.append((method, path))
            kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
            request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1") + body
            if not await self._passes(path, "request"):
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            up_writer.write(request)
            await up_writer.drain()
            reply = await up_reader.read(-1)
            up_writer.close()
            if not await self._passes(path, "reply"):
                return
            writer.write(reply)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def _passes(self, path: str, phase: str) -> bool:
        if self.latency:
            await asyncio.sleep(self.latency)
        gate = self._take_rule(path, phase)
        if gate is None:
            return True
        gate.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, gate.decided.wait)
        return gate.verdict == "release"
