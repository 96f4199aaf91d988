"""Run every benchmark side by side against one simulator on loopback; write results.md and charts.

    python -m bench.run_all                 # the full run of `make bench` (about 12 minutes on 2 cores)
    python -m bench.run_all --quick --out DIR   # tiny sizes, for the smoke test

Writes ``results.json`` (every figure), ``results.md`` (tables, goals, machine, versions) and, when
matplotlib is installed, ``triggerer_loop_lag.png`` and ``triggerer_cpu_per_poll.png`` into ``--out``.
The instructions per poll under callgrind (bench/callgrind_poll.py) are measured when valgrind and a C
compiler are present, and reported as skipped otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import callgrind_poll, charts
from bench.common import PYTHON, REPO, SimulatorProcess, installed, machine, median, ratio, run_json, versions
from bench.triggerer_scale import LABELS

PEERS = ("http", "naive")
#: Item 6 of the hot-path work: the provider against the bare aiohttp floor at the largest size.
FLOOR_CPU_RATIO = 1.15
MAX_KIB_PER_WAIT = 10.0
#: The poll rate counts as 100% from here (each cycle is the requested delay plus the read itself).
FULL_RATE_PCT = 99.5


# -- running -------------------------------------------------------------------------------------------------
def scale_runs(sim: SimulatorProcess, args: argparse.Namespace, logs: Path) -> list[dict[str, Any]]:
    impls = [i for i in args.impls if i != "http" or installed("airflow.providers.http")]
    runs = []
    for waits in args.sizes:
        repeats = 1 + (args.extra_provider_runs if waits == max(args.sizes) else 0)
        # The provider and the floor alternate (as many floor runs as provider runs at the largest size),
        # so load from elsewhere on the machine falls on both alike; the peers follow.
        order = [(impl, r) for r in range(repeats) for impl in impls if impl in ("provider", "floor")]
        order += [(impl, 0) for impl in impls if impl not in ("provider", "floor")]
        for impl, repeat in order:
            print(f"  triggerer scale: {impl} x {waits} waits (run {repeat + 1})", flush=True)
            cmd = [PYTHON, "-m", "bench.triggerer_scale", "--impl", impl, "--waits", str(waits),
                   "--sim-url", sim.url, "--poll-interval", str(args.poll_interval),
                   "--batch-delay", str(args.batch_delay)]
            run = run_json(cmd, timeout=args.batch_delay + 600, log=logs / f"scale-{impl}-{waits}-{repeat}.log")
            run["repeat"] = repeat
            runs.append(run)
    if args.gc_freeze_run and "provider" in impls:
        waits = max(args.sizes)
        print(f"  triggerer scale: provider x {waits} waits with gc.freeze() (diagnosis)", flush=True)
        cmd = [PYTHON, "-m", "bench.triggerer_scale", "--impl", "provider", "--waits", str(waits), "--sim-url",
               sim.url, "--poll-interval", str(args.poll_interval), "--batch-delay", str(args.batch_delay),
               "--gc-freeze"]
        runs.append(run_json(cmd, timeout=args.batch_delay + 600, log=logs / f"scale-provider-{waits}-frozen.log"))
    return runs


def run_everything(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    logs = out / "logs" if args.keep_logs else Path(os.environ.get("TMPDIR", "/tmp")) / "batchops-bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "load_average_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    with SimulatorProcess("--tasks", "200", "--resources", "50", log_dir=logs) as sim:
        print(f"simulator at {sim.url} (own process)", flush=True)
        results["scale"] = scale_runs(sim, args, logs)
        print("  request economy and detection latency", flush=True)
        results["economy"] = run_json(
            [PYTHON, "-m", "bench.request_economy", "--sim-url", sim.url, *args.economy_args],
            timeout=600, log=logs / "economy.log")
        print(f"  bulk operations of {args.bulk_count} items", flush=True)
        results["bulk"] = run_json(
            [PYTHON, "-m", "bench.bulk_ops", "--sim-url", sim.url, "--count", str(args.bulk_count)],
            timeout=900, log=logs / "bulk.log")
    reason = callgrind_poll.missing() if args.callgrind else "not asked for (--no-callgrind)"
    if reason is None:
        print(f"  instructions per poll under callgrind ({args.callgrind_polls} polls x "
              f"{args.callgrind_repeats})", flush=True)
        results["callgrind"] = run_json(
            [PYTHON, "-m", "bench.callgrind_poll", "--polls", str(args.callgrind_polls), "--repeats",
             str(args.callgrind_repeats)], timeout=3600, log=logs / "callgrind.log")
    else:
        print(f"  callgrind skipped: {reason}", flush=True)
        results["callgrind"] = {"skipped": reason}
    print(f"  DAG-parse cost ({args.parse_runs} runs per variant)", flush=True)
    results["parse"] = run_json([PYTHON, "-m", "bench.parse_cost", "--runs", str(args.parse_runs)], timeout=1200,
                                log=logs / "parse.log")
    results["load_average_end"] = os.getloadavg()
    results["duration_s"] = time.time() - started
    results["goals"] = goals(results)
    return results


# -- judging ---------------------------------------------------------------------------------------------------
def _by(runs: list[dict[str, Any]], impl: str, waits: int) -> list[dict[str, Any]]:
    """The runs of ``impl`` at ``waits``, without the gc.freeze() diagnosis run."""
    return [r for r in runs if r["impl"] == impl and r["waits"] == waits and not r.get("gc_freeze")]


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    runs = results["scale"]
    sizes = sorted({r["waits"] for r in runs})
    top = max(sizes)
    found: list[dict[str, Any]] = []
    provider_top = _by(runs, "provider", top)
    lag = median([r["lag_p99_ms"] for r in provider_top])
    found.append({"goal": f"loop lag p99 < 100 ms at {top:,} waits (provider, median of {len(provider_top)} runs)",
                  "figure": f"{lag:.0f} ms", "met": lag < 100})
    for waits in sizes:
        mine = median([r["cpu_s_per_1000_polls"] for r in _by(runs, "provider", waits)])
        peers = {p: median([r["cpu_s_per_1000_polls"] for r in _by(runs, p, waits)]) for p in PEERS
                 if _by(runs, p, waits)}
        if not peers:
            continue
        best = min(peers, key=lambda p: peers[p])
        floor = [r["cpu_s_per_1000_polls"] for r in _by(runs, "floor", waits)]
        floor_note = f"; the bare-aiohttp floor: {ratio(median(floor), peers[best]):.2f}x" if floor else ""
        found.append({"goal": f"CPU per poll <= half the best peer's at {waits:,} waits",
                      "figure": f"{mine:.3f} vs {peers[best]:.3f} s/1,000 polls ({best}): "
                                f"{ratio(mine, peers[best]):.2f}x{floor_note}", "met": mine <= peers[best] / 2})
    found += floor_goals(results)
    tokens = [r["token_requests"] for r in runs if r["impl"] in ("provider", "superoffice")]
    found.append({"goal": "<= 1 token request per credential per token lifetime per process, any number of waits",
                  "figure": f"max {max(tokens)} per run ({len(tokens)} runs, up to {top:,} waits)",
                  "met": max(tokens) <= 1})
    schedule = results["economy"]["schedule"]
    found.append({"goal": f"30-minute batch costs <= {schedule['budget']} status requests (defaults)",
                  "figure": f"{schedule['deferred_reads_max']} deferred / {schedule['worker_reads_max']} in the "
                            f"worker (max of {schedule['runs']} jittered schedules)",
                  "met": schedule["within_budget"]})
    detection = results["economy"]["detection"]
    found.append({"goal": "completion seen within one poll interval of the server marking it done",
                  "figure": f"max {detection['latency_max_s']:.2f} s with a {detection['poll_interval_s']:g} s "
                            f"interval (bound {detection['bound_s']:.2f} s with jitter)",
                  "met": detection["within_one_interval"]})
    registry = results["economy"]["registry"]
    found.append({"goal": "registry jobs seen through the event stream within 0.3 s",
                  "figure": f"median {registry['events_median_s'] * 1000:.0f} ms, max "
                            f"{registry['events_max_s'] * 1000:.0f} ms", "met": registry["within_budget"]})
    parse = results["parse"]
    added = parse["variants"]["batchops"]["cpu_added_pct"]
    found.append({"goal": "operator + sensor imports add <= 5% to `import airflow.sdk` (CPU, median)",
                  "figure": f"+{added:.1f}% (median of {parse['runs']} runs)", "met": parse["within_budget"]})
    return found


def floor_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The provider against the bare aiohttp floor at the largest size, and under callgrind."""
    runs = results["scale"]
    top = max(r["waits"] for r in runs)
    mine, floor = _by(runs, "provider", top), _by(runs, "floor", top)
    found: list[dict[str, Any]] = []
    if mine and floor:
        cpu, floor_cpu = (median([r["cpu_s_per_1000_polls"] for r in rs]) for rs in (mine, floor))
        found.append({"goal": f"CPU per poll <= {FLOOR_CPU_RATIO:g}x the bare-aiohttp floor's at {top:,} waits",
                      "figure": f"{cpu:.3f} vs {floor_cpu:.3f} s/1,000 polls: {ratio(cpu, floor_cpu):.2f}x "
                                f"(provider median of {len(mine)} runs)",
                      "met": ratio(cpu, floor_cpu) <= FLOOR_CPU_RATIO})
        gcs, floor_gcs = [r["gc_full_collections"] for r in mine], median([r["gc_full_collections"] for r in floor])
        found.append({"goal": f"full garbage collections no more than the floor's at {top:,} waits",
                      "figure": f"{median(gcs):g} (runs: {', '.join(str(g) for g in gcs)}) vs {floor_gcs:g}",
                      "met": median(gcs) <= floor_gcs})
    if mine:
        rates = [r["poll_rate_pct"] for r in mine]
        floor_rate = f"; the floor {median([r['poll_rate_pct'] for r in floor]):.1f}%" if floor else ""
        found.append({"goal": f"100% of the requested poll rate at {top:,} waits (>= {FULL_RATE_PCT:g}%: a cycle "
                              "is the delay plus the read)",
                      "figure": f"{median(rates):.1f}% (lowest run {min(rates):.1f}%){floor_rate}",
                      "met": median(rates) >= FULL_RATE_PCT})
        kib = [r["mem_kib_per_wait"] for r in mine]
        found.append({"goal": f"<= {MAX_KIB_PER_WAIT:g} KiB per wait at {top:,} waits (RSS growth)",
                      "figure": f"{median(kib):.1f} KiB (runs: {', '.join(f'{k:.1f}' for k in kib)})",
                      "met": median(kib) <= MAX_KIB_PER_WAIT})
    cg = results.get("callgrind") or {}
    if "ratio" in cg:
        found.append({"goal": f"instructions per still-running poll <= {FLOOR_CPU_RATIO:g}x the floor's (callgrind)",
                      "figure": f"{cg['provider']['ir_per_poll']:,.0f} vs {cg['floor']['ir_per_poll']:,.0f} "
                                f"instructions: {cg['ratio']:.3f}x",
                      "met": cg["ratio"] <= FLOOR_CPU_RATIO})
    return found


# -- reporting ---------------------------------------------------------------------------------------------------
def _f(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: dict[str, Any], chart_files: list[Path]) -> str:
    m, v = results["machine"], results["versions"]
    runs = results["scale"]
    sizes = sorted({r["waits"] for r in runs})
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run_all`) on {results['started']}; the run took "
        f"{results['duration_s'] / 60:.1f} min. Everything ran on this machine against the bundled simulator on "
        "127.0.0.1, the simulator in its own process (its CPU is not counted). Figures are medians unless "
        "said otherwise; goals are checked, not asserted.",
        "",
        f"**Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"{m['implementation']} {m['python']}. Load average (1/5/15 min) at the start "
        f"{', '.join(f'{x:.1f}' for x in results['load_average_start'])}, at the end "
        f"{', '.join(f'{x:.1f}' for x in results['load_average_end'])} (other work on the machine shows here).",
        "",
        "**Packages**: " + ", ".join(f"{name} {version}" for name, version in v.items()) + ".",
        "",
        "## Goals",
        "",
        "| goal | figure | met |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {g['goal']} | {g['figure']} | {'yes' if g['met'] else '**no**'} |" for g in results["goals"]]
    missed = [g for g in results["goals"] if not g["met"]]
    if missed:
        lines += ["", "Missed: " + "; ".join(f"{g['goal']} ({g['figure']})" for g in missed)
                  + ". Why, for the provider against the floor: see the notes at the end."]
    s = results["scale"][0]
    lines += [
        "",
        "## 1. Triggerer scale",
        "",
        f"N waits run concurrently on one asyncio loop, each `trigger.run()` until its first event, started "
        f"like the triggerer's `create_triggers` (one trigger, then `await asyncio.sleep(0)`). Rules batches "
        f"finish {s['batch_delay_s']:g} s after they are started; status polled every {s['poll_interval_s']:g} s "
        "(`poll_interval = max_poll_interval`, so no backoff; the provider's and the naive trigger's delays "
        "have +/-10% jitter, HttpSensorTrigger's none). Loop lag: a probe task sleeps 50 ms over and over and "
        "records how late it wakes. CPU: the waiting process's user+system time over the waits, divided by the "
        "status polls the simulator counted. Memory: RSS growth over the run per wait. Full GC: CPython "
        "generation-2 collections during the run and the longest one.",
        "",
        "| implementation | waits | polls | poll rate | CPU s / 1,000 polls | lag p50 ms | lag p99 ms | lag max ms "
        "| full GCs (longest ms) | KiB / wait | token requests | errors | wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = {impl: n for n, impl in enumerate(LABELS)}
    for run in sorted(runs, key=lambda r: (r["waits"], r.get("gc_freeze", False), order[r["impl"]],
                                           r.get("repeat", 0))):
        name = run["label"] + (f" (run {run['repeat'] + 1})" if run.get("repeat") else "")
        lines.append(
            f"| {name} "
            f"| {run['waits']:,} | {run['polls']:,} | {_f(run.get('poll_rate_pct', math.nan))}% "
            f"| {_f(run['cpu_s_per_1000_polls'], 3)} | {_f(run['lag_p50_ms'])} "
            f"| {_f(run['lag_p99_ms'])} | {_f(run['lag_max_ms'], 0)} | {run['gc_full_collections']} "
            f"({_f(run['gc_full_pause_max_ms'], 0)}) | {_f(run['mem_kib_per_wait'])} | {run['token_requests']} "
            f"| {run['error_count']} | {_f(run['wall_s'])} |")
    lines += ["", "Ratios of CPU per poll (this provider / peer, medians):", ""]
    lines += ["| waits | " + " | ".join(f"vs {LABELS[p]}" for p in (*PEERS, "floor")) + " |",
              "| ---: | " + " | ".join("---:" for _ in (*PEERS, "floor")) + " |"]
    for waits in sizes:
        mine = median([r["cpu_s_per_1000_polls"] for r in _by(runs, "provider", waits)])
        cells = []
        for peer in (*PEERS, "floor"):
            other = [r["cpu_s_per_1000_polls"] for r in _by(runs, peer, waits)]
            cells.append(f"{ratio(mine, median(other)):.2f}" if other else "n/a")
        lines.append(f"| {waits:,} | " + " | ".join(cells) + " |")
    lines += ["", *(f"![{p.stem}]({p.name})" for p in chart_files)]
    lines += ["", "Poll rate: the status reads the simulator counted, against what the schedule asked for over "
              "the time each wait ran (one read at its start, then one per poll interval; the jitter averages "
              "out). A cycle is the delay plus the read itself, so the read's latency keeps any implementation a "
              "little under 100%."]
    e = results["economy"]
    sch, det, reg = e["schedule"], e["detection"], e["registry"]
    lines += [
        "",
        "## 2. Request economy and detection latency",
        "",
        f"- A batch running {sch['batch_seconds'] / 60:g} minutes, operator defaults (`poll_interval` "
        f"{sch['poll_interval_s']:g} s x{sch['factor']:g} per poll up to {sch['max_poll_interval_s']:g} s, "
        f"+/-{sch['jitter'] * 100:g}% jitter), {sch['runs']:,} jittered schedules through the provider's own "
        f"`WaitLoop` with a fake clock: **{_f(sch['deferred_reads_median'], 0)} status requests deferred (max "
        f"{sch['deferred_reads_max']})**, {_f(sch['worker_reads_median'], 0)} waiting in the worker (max "
        f"{sch['worker_reads_max']}); budget {sch['budget']}. The end is seen {sch['seen_after_done_median_s']:.0f} s "
        f"after it (max {sch['seen_after_done_max_s']:.0f} s, i.e. within one 60 s interval plus jitter).",
        f"- On the simulator, {det['waits']} batches finishing at known moments, `poll_interval` = "
        f"`max_poll_interval` = {det['poll_interval_s']:g} s: the event comes **{det['latency_median_s']:.2f} s** "
        f"(median; p90 {det['latency_p90_s']:.2f} s, max {det['latency_max_s']:.2f} s = "
        f"{det['latency_max_intervals']:.2f} intervals) after the server marks the batch done; {det['errors']} errors.",
        f"- Registry jobs ({reg['runs']} runs, job steps of {reg['step_delay_s']:g} s), job `finishedAt` -> "
        f"trigger event: event stream **{reg['events_median_s'] * 1000:.0f} ms** median (max "
        f"{reg['events_max_s'] * 1000:.0f} ms); polling every {reg['poll_interval_s']:g} s instead: "
        f"{reg['polling_median_s'] * 1000:.0f} ms median (max {reg['polling_max_s'] * 1000:.0f} ms).",
    ]
    p = results["parse"]
    lines += [
        "",
        "## 3. DAG-parse cost",
        "",
        f"Fresh `python -c` processes, {p['runs']} runs per variant, interleaved; CPU = user + system of the "
        "whole process (`wait4`).",
        "",
        "| imports | CPU s (median) | added CPU | wall s (median) | added wall |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    names = {"airflow.sdk": "`import airflow.sdk`",
             "batchops": f"+ all {len(p['modules'])} operator and sensor modules of this provider",
             "providers-http": "+ `airflow.providers.http.operators.http`, `.sensors.http`"}
    for key, row in p["variants"].items():
        lines.append(f"| {names.get(key, key)} | {row['cpu_median_s']:.3f} | {row['cpu_added_pct']:+.1f}% "
                     f"| {row['wall_median_s']:.3f} | {row['wall_added_pct']:+.1f}% |")
    lines += ["", "Heaviest modules the provider's imports add (`-X importtime`, one run, self time):", "",
              "| module | self ms |", "| --- | ---: |"]
    lines += [f"| {row['module']} | {row['self_ms']:.1f} |" for row in p["heaviest_added_imports"]]
    b = results["bulk"]
    lines += [
        "",
        "## 4. Bulk operations",
        "",
        "The operators' `execute` with `deferrable=False` (waiting in the worker), a MagicMock task instance, "
        "`poll_interval` 1 s, jobs and batches that take 1 s on the simulator. Requests from the simulator's "
        "counters.",
        "",
        "| operation | items | requests | requests by route | wall s | operator CPU s |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for key, title in (("mammoth", "MammothBatchCleanupOperator"), ("resources", "ResourcesBatchDeleteOperator")):
        if key in b:
            row = b[key]
            routes = "<br>".join(f"{count} x `{route}`" for route, count in row["requests_by_route"].items())
            lines.append(f"| {title} (deleted {row['deleted']:,}) | {row['count']:,} | {row['requests']} | {routes} "
                         f"| {row['wall_s']:.2f} | {row['cpu_s']:.2f} |")
    lines += callgrind_section(results.get("callgrind") or {})
    lines += ["", "## Notes", "", *NOTES, ""]
    return "\n".join(lines)


def callgrind_section(cg: dict[str, Any]) -> list[str]:
    lines = ["", "## 5. Instructions per still-running poll (callgrind)", ""]
    if "skipped" in cg or "ratio" not in cg:
        return [*lines, f"Not measured: {cg.get('skipped', 'no result')}."]
    lines += [
        f"Counted by `valgrind --tool=callgrind` ({cg['valgrind']}), so machine load does not move it. One process "
        "under callgrind runs one trigger at a time until its first event against a tiny HTTP/1.1 server on "
        "loopback that lives in the measuring process, outside valgrind (bench/callgrind_poll.py). The server "
        "answers \"running\" to the first n reads of a batch and \"finished\" after that; the provider exchanges "
        "key and secret for a token once, as in the scale runs. Each wait is measured alone between callgrind "
        f"client requests: instructions per poll = (Ir of a wait with {cg['polls']} running polls - Ir of a wait "
        f"with 0) / {cg['polls']}, so what a wait costs once (connection look-up, session, the finishing read, the "
        f"event) cancels out. Provider and floor alternate in the same process, {cg['repeats']} times each; "
        f"medians. Delays of {cg['poll_interval_s'] * 1000:g} ms; warmed up first, and the objects that exist before "
        "measuring are frozen (`gc.freeze()`), so young collections caused by a poll's allocations count and a "
        "full collection of Airflow's import-time objects does not fall in one wait or another by chance.",
        "",
        "| implementation | instructions per poll | per run | instructions of a wait without polls |",
        "| --- | ---: | --- | ---: |",
    ]
    for impl in callgrind_poll.IMPLS:
        row = cg[impl]
        runs = ", ".join(f"{value:,.0f}" for value in row["ir_per_poll_runs"])
        lines.append(f"| {LABELS[impl]} | {row['ir_per_poll']:,.0f} | {runs} | {row['ir_wait_without_polls']:,.0f} |")
    lines += ["", f"Provider / floor: **{cg['ratio']:.3f}x** instructions per still-running poll."]
    return lines


NOTES = [
    "- HttpSensorTrigger succeeds on the first answer that is not a 404, so for the same workload the simulator "
    "answers its polls of the same status URL with 404 (a fault rule with a count) until the batches' time is "
    "up. It authenticates with what the `http` connection holds: login/password become basic auth, extras become "
    "headers; here extras carry `Authorization: Bearer <pre-issued token>` (no token exchange, no refresh on 401). "
    "Each poll opens a new `aiohttp.ClientSession` (a new TCP connection) and logs a warning for the 404.",
    "- The naive trigger (bench/naive_trigger.py) calls the provider's sync, requests-based WaylayHook in "
    "`asyncio.to_thread` per poll (default executor, min(32, cores + 4) threads); at 5,000 waits the threads cannot "
    "keep up with one poll per wait every 5 s, so it polls less often than asked.",
    "- The floor (bench/naive_trigger.py, BareAiohttpTrigger) is a reference, not a peer: one shared aiohttp "
    "session, a fixed token, GET, parse, check, sleep; no connection look-up, retries, timeouts or reports.",
    "- Loop lag at thousands of waits comes from CPython's full (generation 2) garbage collections: each walks every "
    "tracked object of the process (Airflow's own ~170,000 plus ~50 per wait) and stops the loop for 0.2-1 s "
    "on this machine; how many fall in the run decides the p99 (one probe sample in 100 is the p99). The bare "
    "aiohttp floor goes through the same collections (full-GC column), and the run with `gc.freeze()` (the "
    "objects that exist before the waits, i.e. "
    "Airflow's, no longer walked) shows the cause; it is a diagnosis, not something a provider may do to the "
    "triggerer process.",
    "- At 100 waits the costs that do not grow with the number of polls (connection look-ups, the token, opening "
    "pooled connections, an idle loop waking up cold) dominate the ~600 polls; the floor shows what is left "
    "for any aiohttp-based trigger there.",
    "- Provider against the floor. The callgrind figure (section 5) isolates one still-running poll: there the "
    "provider's read, retry rule, token check, report mapping and wait decision add what the table shows to the "
    "same aiohttp request. The scale runs' CPU per poll also carries what each wait costs once, spread over the "
    "~6 polls a 25 s batch takes at 5 s: the trigger's validated settings, the hook, the shared session's "
    "entry and exit and the event with its report (the connection look-up and the client with its token auth "
    "are shared by the hooks of one class and connection built on the loop within a second); the floor "
    "builds a URL string and nothing else. At 5,000 waits on one loop the "
    "process is also busy enough that every extra object per wait shows up as more collections (the full-GC "
    "column), and a full collection walks Airflow's ~170,000 import-time objects, so one collection more or "
    "less moves CPU per poll by several percent. The hot path changed for this: one JSON decoder, the status "
    "call built once per trigger, request headers and the aiohttp timeout reused, the loop's session found "
    "without a weak-key look-up, one client per connection for the triggers started together, running batch "
    "bodies mapped without pydantic when plainly valid (any other "
    "body still goes through the model, so its errors are the same), no coroutine around a status read once "
    "the client exists, no per-poll lambdas or step objects, replies and decisions filled in without "
    "`object.__setattr__` per field, the decision dropped before the sleep, secrets registered with the log "
    "masker once per process.",
    "- The machine is shared: the load averages above count other processes that ran during the benchmark. They "
    "take CPU from the measured process and its simulator and stretch loop lag and GC pauses; CPU per poll (a "
    "process's own time) is affected less.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for the smoke test; figures mean nothing")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000, 5000])
    parser.add_argument("--impls", type=lambda s: s.split(","), default=["provider", "http", "naive", "floor"])
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--batch-delay", type=float, default=25.0)
    parser.add_argument("--extra-provider-runs", type=int, default=2,
                        help="more provider and floor runs (alternating) at the largest size")
    parser.add_argument("--parse-runs", type=int, default=10)
    parser.add_argument("--no-gc-freeze-run", dest="gc_freeze_run", action="store_false",
                        help="skip the provider run with gc.freeze() at the largest size (a diagnosis)")
    parser.add_argument("--bulk-count", type=int, default=10_000)
    parser.add_argument("--no-charts", action="store_true")
    parser.add_argument("--no-callgrind", dest="callgrind", action="store_false",
                        help="skip the instructions per poll under callgrind")
    parser.add_argument("--callgrind-polls", type=int, default=200)
    parser.add_argument("--callgrind-repeats", type=int, default=3)
    parser.add_argument("--keep-logs", action="store_true", help="keep the subprocess logs under OUT/logs")
    args = parser.parse_args(argv)
    args.economy_args = []
    if args.quick:
        args.sizes, args.batch_delay, args.poll_interval = [20], 1.5, 0.5
        args.extra_provider_runs, args.parse_runs, args.bulk_count, args.gc_freeze_run = 0, 2, 200, False
        args.callgrind_polls, args.callgrind_repeats = 3, 1
        args.economy_args = ["--schedule-runs", "20", "--detection-waits", "3", "--detection-interval", "0.5",
                             "--registry-runs", "1", "--registry-poll-interval", "0.5", "--registry-step-delay", "0.2"]
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_everything(args)
    chart_files: list[Path] = []
    if not args.no_charts and installed("matplotlib"):
        chart_files = charts.write([r for r in results["scale"] if not r.get("gc_freeze")], args.out, LABELS)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(results, chart_files))
    print(f"wrote {args.out / 'results.md'} in {results['duration_s'] / 60:.1f} min", flush=True)
    for goal in results["goals"]:
        print(f"  [{'met' if goal['met'] else 'MISSED'}] {goal['goal']}: {goal['figure']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
