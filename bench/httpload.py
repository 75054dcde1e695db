"""A minimal keep-alive HTTP/1.1 load client on asyncio streams.

httpx spends ~2.5 ms of CPU per request, so on 2 cores it, not the server, is what a
benchmark would measure. This client only writes a fixed request and reads the
status line, headers and Content-Length body back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


class Conn:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> "Conn":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        data = json.dumps(body, ensure_ascii=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{self.headers}\r\n").encode()
        self.writer.write(head + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self.writer:
            self.writer.close()


@dataclass(frozen=True)
class Answer:
    scheduled: float  # perf_counter when the request was due (open loop: not when a connection was free)
    answered: float
    status: int
    payload: bytes


async def open_loop(url: str, headers: dict[str, str], path: str, body: Callable[[int], dict], rate: float,
                    seconds: float, connections: int = 64) -> list[Answer]:
    """Requests start on a fixed schedule (open loop), each on a free keep-alive connection, so a
    slow server shows up as latency instead of as a slower offered rate."""
    answers: list[Answer] = []
    free: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await Conn(url, headers).open())

    async def one(i: int, scheduled: float) -> None:
        conn = await free.get()
        status, payload = await conn.post_json(path, body(i))
        answers.append(Answer(scheduled, time.perf_counter(), status, payload))
        free.put_nowait(conn)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    while not free.empty():
        await free.get_nowait().close()
    return answers
