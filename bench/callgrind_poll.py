"""Instructions per still-running status poll under ``valgrind --tool=callgrind``: provider against floor.

A figure that machine load does not move: callgrind counts the instructions the process executes
(``Ir``), not time. One process runs under callgrind (started with instrumentation off, so importing
Airflow is not counted and takes seconds, not minutes). It builds one trigger at a time and runs its
``trigger.run()`` until the first event against a tiny HTTP server on loopback that lives in *this*
process (outside valgrind, so its work is not counted). The server answers "running" to the first
``n`` reads of a batch id and "finished" after that. Each wait is measured alone, between client
requests that zero and dump callgrind's counters:

    instructions per poll = (Ir of a wait with n running polls - Ir of a wait with 0) / n

so what every wait costs once (connection look-up, session, the finishing read, the event) cancels
out. The same is done for the bare aiohttp floor (:class:`bench.naive_trigger.BareAiohttpTrigger`) in
the same process, provider and floor alternating, ``--repeats`` times; the median is reported.

Before measuring, both implementations run one warm-up wait (CPython specialises its bytecode) and
the objects that exist are frozen (``gc.freeze()``): young-generation collections caused by a poll's
allocations are counted, a full collection that walks Airflow's ~170,000 import-time objects is not
(it would land in one wait or another by chance). Delays are 50 ms.

    python -m bench.callgrind_poll --polls 200          # prints one JSON line

Needs Debian's ``valgrind`` (with ``/usr/include/valgrind/callgrind.h``) and a C compiler, which
builds the four-function helper that sends callgrind its client requests.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import itertools
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import PYTHON, bench_env

POLL_INTERVAL = 0.05
TOKEN = "bench.callgrind.token"
IMPLS = ("provider", "floor")
HELPER_C = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def missing() -> str | None:
    """Why the benchmark cannot run here, or ``None``."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian: apt-get install valgrind)"
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind/callgrind.h is missing (Debian's valgrind package ships it)"
    if shutil.which("cc") is None:
        return "no C compiler (cc) to build the callgrind client-request helper"
    return None


# -- the server: on loopback, in the measuring (not measured) process ----------------------------------------
def _body(batch_id: str, finished: bool) -> bytes:
    body: dict[str, Any] = {
        "id": batch_id,
        "user": "bench",
        "operation": {"entity": "task", "action": "reload", "description": "callgrind bench"},
        "queueTime": 1_764_633_600_000,
    }
    if finished:
        body.update(finishedTime=1_764_633_625_000, results={"success": {"task-1": {}}, "failure": {}})
    return json.dumps(body).encode()


class LoopbackServer:
    """HTTP/1.1 keep-alive on 127.0.0.1: ``GET /rules/v1/batch/<tag>-<n>`` is running for its first ``n`` reads."""

    def __init__(self) -> None:
        self.reads: defaultdict[str, int] = defaultdict(int)
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        loop.run_forever()
        server.close()
        loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
                if path == "/accounts/v1/tokens":  # the provider exchanges key and secret once
                    payload = json.dumps({"token": TOKEN}).encode()
                else:
                    batch_id = path.rsplit("/", 1)[-1]
                    self.reads[batch_id] += 1
                    running = int(batch_id.rsplit("-", 1)[-1])
                    payload = _body(batch_id, self.reads[batch_id] > running)
                status = "200 OK"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
                             f"{len(payload)}\r\nConnection: keep-alive\r\n\r\n".encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            writer.close()


# -- the measured process ----------------------------------------------------------------------------------------
class Requests:
    """Callgrind's client requests (no-ops when not under valgrind)."""

    def __init__(self, helper: str | None) -> None:
        self.lib = ctypes.CDLL(helper) if helper else None
        if self.lib is not None:
            self.lib.cg_dump.argtypes = [ctypes.c_char_p]

    def start(self) -> None:
        if self.lib is not None:
            self.lib.cg_start()

    def stop(self) -> None:
        if self.lib is not None:
            self.lib.cg_stop()

    def zero(self) -> None:
        if self.lib is not None:
            self.lib.cg_zero()

    def dump(self, name: str) -> None:
        if self.lib is not None:
            self.lib.cg_dump(name.encode())


def makers(url: str) -> dict[str, Callable[[str], Any]]:
    from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger
    from bench.naive_trigger import BareAiohttpTrigger

    return {
        "provider": lambda batch_id: WaylayBatchTrigger(service="rules", batch_id=batch_id,
                                                        poll_interval=POLL_INTERVAL, max_poll_interval=POLL_INTERVAL),
        "floor": lambda batch_id: BareAiohttpTrigger(f"{url}/rules/v1/batch/{batch_id}", TOKEN, POLL_INTERVAL),
    }


async def child_main(url: str, polls: int, repeats: int, requests: Requests) -> None:
    from bench.naive_trigger import BareAiohttpTrigger
    from bench.triggerer_scale import first_event, outcome

    make = makers(url)
    seq = itertools.count()

    async def wait(impl: str, running: int) -> None:
        payload = await first_event(make[impl](f"cg{next(seq)}-{running}"))
        if outcome(payload) != "success":
            raise SystemExit(f"{impl}: the wait ended with {payload!r}")

    for impl in IMPLS:  # warm-up: connections, caches, specialised bytecode
        await wait(impl, max(polls, 20))
    gc.collect()
    gc.freeze()
    requests.start()
    for repeat in range(repeats):
        for impl in IMPLS:
            for running in (0, polls):
                requests.zero()
                await wait(impl, running)
                requests.dump(f"{impl}:{running}:{repeat}")
    requests.stop()
    await BareAiohttpTrigger.close_sessions()


# -- the harness ---------------------------------------------------------------------------------------------------
def build_helper(directory: Path) -> Path:
    source, library = directory / "cg_requests.c", directory / "cg_requests.so"
    source.write_text(HELPER_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True,
                   capture_output=True)
    return library


DESC = re.compile(r"^desc: Trigger: Client Request: (\S+)$", re.M)
TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def read_dumps(directory: Path) -> dict[str, int]:
    """``{phase name: Ir}`` from callgrind's dump files."""
    found: dict[str, int] = {}
    for path in directory.glob("cg.out*"):
        text = path.read_text(errors="replace")
        name, total = DESC.search(text), TOTAL.search(text)
        if name and total:
            found[name.group(1)] = int(total.group(1))
    return found


def run(polls: int, repeats: int, timeout: float = 1800.0, keep: Path | None = None) -> dict[str, Any]:
    reason = missing()
    if reason:
        raise SystemExit(reason)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="batchops-callgrind-") as tmp, LoopbackServer() as server:
        work = Path(tmp)
        helper = build_helper(work)
        env = bench_env(str(work / "airflow-home"))
        env["AIRFLOW_CONN_WAYLAY_DEFAULT"] = json.dumps(  # key and secret exchanged for a token, as in the scale run
            {"conn_type": "waylay", "host": server.url, "login": "bench-key", "password": "bench-secret"})
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/cg.out",
               "--dump-line=no", PYTHON, "-m", "bench.callgrind_poll", "--child", "--url", server.url,
               "--polls", str(polls), "--repeats", str(repeats), "--helper", str(helper)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"the callgrind run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        dumps = read_dumps(work)
        if keep is not None:  # the dump files, for callgrind_annotate
            keep.mkdir(parents=True, exist_ok=True)
            for path in work.glob("cg.out*"):
                shutil.copy(path, keep / path.name)
    result: dict[str, Any] = {"polls": polls, "repeats": repeats, "poll_interval_s": POLL_INTERVAL,
                              "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True,
                                                         text=True).stdout.strip()}
    for impl in IMPLS:
        per_poll, baselines = [], []
        for repeat in range(repeats):
            base, full = dumps[f"{impl}:0:{repeat}"], dumps[f"{impl}:{polls}:{repeat}"]
            baselines.append(base)
            per_poll.append((full - base) / polls if polls else 0.0)
        result[impl] = {"ir_per_poll": statistics.median(per_poll), "ir_per_poll_runs": per_poll,
                        "ir_wait_without_polls": statistics.median(baselines)}
    floor = result["floor"]["ir_per_poll"]
    result["ratio"] = result["provider"]["ir_per_poll"] / floor if floor else float("nan")
    result["wall_s"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--polls", type=int, default=200, help="still-running polls of the measured waits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="copy callgrind's dump files into this directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.polls < 1 or args.repeats < 1:
        parser.error("--polls and --repeats must be >= 1")
    if args.child:
        asyncio.run(child_main(args.url, args.polls, args.repeats, Requests(args.helper)))
        return 0
    print(json.dumps(run(args.polls, args.repeats, keep=args.keep)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
