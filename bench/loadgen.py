"""A small closed-loop HTTP/1.1 load generator on asyncio (keep-alive, N concurrent clients).

Cheap enough to share two cores with the server under test: it writes pre-built requests and
parses only the status line and Content-Length.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    label: str
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)


def build_request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, body
            body += await reader.readexactly(size + 2)
    return status, await reader.readexactly(length) if length else b""


async def _client(host, port, make_request, deadline, result, max_requests):
    reader = writer = None
    while time.perf_counter() < deadline and result.requests < max_requests:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            payload = make_request()
            started = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            status, _ = await asyncio.wait_for(_read_response(reader), timeout=60)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status >= 400:
                result.errors += 1
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(host, port, make_request, concurrency, seconds, label, max_requests):
    result = LoadResult(label=label)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _client(host, port, make_request, deadline, result, max_requests)
            for _ in range(concurrency)
        )
    )
    result.seconds = time.perf_counter() - started
    return result


def run_load(
    *,
    host: str,
    port: int,
    make_request: Callable[[], bytes],
    concurrency: int,
    seconds: float,
    label: str,
    max_requests: int = 10**9,
) -> LoadResult:
    return asyncio.run(_run(host, port, make_request, concurrency, seconds, label, max_requests))


def print_table(rows: list[LoadResult], baseline: LoadResult, title: str) -> None:
    print(f"\n{title}")
    header = f"{'scenario':<34}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    header += f"{'errors':>8}{'vs baseline':>13}"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.rps / baseline.rps if baseline.rps else float("nan")
        print(
            f"{row.label:<34}{row.requests:>9}{row.rps:>9.0f}{row.p50:>9.1f}{row.p99:>9.1f}"
            f"{row.errors:>8}{ratio:>12.0%}"
        )
