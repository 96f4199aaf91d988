"""PNG charts of the triggerer scale runs: loop lag and CPU per poll against the number of waits."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import median

CHARTS = {
    "triggerer_loop_lag.png": ("lag_p99_ms", "event-loop lag p99 (ms)", "Event-loop lag p99 (probe sleeping 50 ms)"),
    "triggerer_cpu_per_poll.png": ("cpu_s_per_1000_polls", "CPU s per 1,000 status polls",
                                   "Triggerer process CPU per 1,000 status polls"),
}
STYLES = {"provider": ("o", "-"), "http": ("s", "--"), "naive": ("^", "--"), "floor": ("x", ":"),
          "superoffice": ("D", "-")}


def series(runs: list[dict[str, Any]], key: str) -> dict[str, list[tuple[int, float]]]:
    """impl -> [(waits, median of ``key`` over that size's runs)], sorted by waits."""
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run["impl"]][int(run["waits"])].append(float(run[key]))
    return {impl: sorted((w, median(v)) for w, v in sizes.items()) for impl, sizes in grouped.items()}


def write(runs: list[dict[str, Any]], out_dir: Path, labels: dict[str, str]) -> list[Path]:
    """Write the charts beside the results; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, (key, ylabel, title) in CHARTS.items():
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        for impl, points in series(runs, key).items():
            marker, line = STYLES.get(impl, ("o", "-"))
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, linestyle=line,
                    label=labels.get(impl, impl))
        if key == "lag_p99_ms":
            ax.axhline(100, color="grey", linewidth=0.8, linestyle="-.", label="goal: 100 ms at 5,000 waits")
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("concurrent waits on one event loop")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=11)
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
