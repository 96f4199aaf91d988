"""Command line: ``batchops-simulator`` / ``python -m airflow_provider_batchops.simulator``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import textwrap
import threading
from pathlib import Path
from types import FrameType

from . import control
from .app import RUNTIME_SETTINGS, SERVICES, SimulatorConfig
from .faults import FAULT_KINDS
from .server import SimulatorServer, is_loopback

#: Every control route (method, path, what it does), as ``--help`` and the README list them.
CONTROL_ROUTES: tuple[tuple[str, str, str], ...] = (
    *control.HELP, *(line for service in SERVICES for line in service.control_help)
)

_FAULT_NOTES = f"""\
fault rules (POST /_sim/faults), checked in the order added, on API routes only:
  route         "*" (default), a route key as in /_sim/counters ("GET /rules/v1/batch/{{batchId}}"),
                or a route template alone (any method)
  kind          {" | ".join(FAULT_KINDS)}:
                status: answer `status` (default 503), with `retry_after` as Retry-After if given;
                slow: answer normally after `delay` seconds; drop: break the connection mid-body;
                malformed: 200 with truncated JSON; cut: end an event stream abruptly after
                `after_events` events (streaming routes only)
  times         how many matching requests the rule applies to; default: all, until DELETE /_sim/faults

{textwrap.fill("run-time settings (POST /_sim/config): " + ", ".join(RUNTIME_SETTINGS), 100,
                subsequent_indent="  ")}
"""


def control_help() -> str:
    """The ``--help`` epilog: every control route on one line, then the fault rule fields and settings."""
    lines = ["control routes (no credentials needed; neither counted nor disturbed by faults):"]
    lines += [f"  {method:<7}{path:<30}{text}" for method, path, text in CONTROL_ROUTES]
    return "\n".join(lines) + "\n\n" + _FAULT_NOTES


def build_parser() -> argparse.ArgumentParser:
    """The command line parser; ``--help`` also lists the control routes under ``/_sim``."""
    parser = argparse.ArgumentParser(
        prog="batchops-simulator",
        description=textwrap.fill(
            "Serve the emulated Waylay APIs (token, rules and resources batch, registry jobs and their "
            "event stream), SuperOffice BatchTask endpoints and the Mammoth Analytics batches and jobs "
            "API (under /api/v2) on a loopback port.",
            100,
        ),
        epilog=control_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8787, help="port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated tasks and resources")
    parser.add_argument("--tasks", type=int, default=200, help="number of generated rules tasks")
    parser.add_argument("--resources", type=int, default=300, help="number of generated resources")
    parser.add_argument("--batch-delay", type=float, default=2.0, help="seconds before a batch finishes")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="lifetime of issued tokens, seconds")
    parser.add_argument("--fail-ratio", type=float, default=0.0, help="share of tasks failing in batches")
    parser.add_argument("--job-step-delay", type=float, default=1.0, help="seconds per registry job state step")
    parser.add_argument("--sse-keepalive", type=float, default=15.0, help="idle seconds between SSE keep-alives")
    parser.add_argument("--sse-crlf", action="store_true", help="end event stream lines in CRLF")
    parser.add_argument("--sse-multiline", action="store_true", help="split some SSE JSON data over two lines")
    parser.add_argument("--so-step-delay", type=float, default=0.5,
                        help="seconds per SuperOffice batch task state step")
    parser.add_argument("--mammoth-job-delay", type=float, default=1.0,
                        help="seconds a Mammoth job stays processing before it reaches its outcome")
    parser.add_argument("--port-file", type=Path, help="write the listening port to this file once ready")
    return parser


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to listen on {args.host}: only loopback addresses are allowed")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    delays = (args.batch_delay, args.token_ttl, args.job_step_delay, args.so_step_delay, args.mammoth_job_delay)
    if min(args.tasks, args.resources, *delays) < 0:
        parser.error("counts, delays and --token-ttl must not be negative")
    if args.sse_keepalive <= 0:
        parser.error("--sse-keepalive must be positive")
    if not 0.0 <= args.fail_ratio <= 1.0:
        parser.error("--fail-ratio must be between 0 and 1")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        tasks=args.tasks,
        resources=args.resources,
        batch_delay=args.batch_delay,
        token_ttl=args.token_ttl,
        fail_ratio=args.fail_ratio,
        job_step_delay=args.job_step_delay,
        sse_keepalive=args.sse_keepalive,
        sse_crlf=args.sse_crlf,
        sse_multiline=args.sse_multiline,
        so_step_delay=args.so_step_delay,
        mammoth_job_delay=args.mammoth_job_delay,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = SimulatorServer(config)
    try:
        server.start()
    except OSError as exc:
        print(f"batchops-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.port_file is not None and server.port is not None:
            _write_port_file(args.port_file, server.port)
        print(f"batchops simulator listening on {server.url}", file=sys.stderr, flush=True)
        while not stop.wait(0.5) and server.running:
            pass
    finally:
        server.stop()
        if args.port_file is not None:
            args.port_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
