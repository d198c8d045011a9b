"""What ``mlflow models serve`` costs here: time to the first /ping, request latency, and a registration.

The infra validator and ``headrace serve`` start exactly this server, so its
start-up is the infra validator's wall time (plus the canary requests); a
registration is what the pusher adds to a run with an ``mlflow:`` section.
The packaged model is the penguin LogisticRegression of ``tests/models.py``.

    .venv/bin/python benchmarks/serving.py [--starts 3] [--rows 10] [--requests 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not benchmarks/: its statistics.py would shadow the standard library's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=3, help="server starts to time")
    parser.add_argument("--rows", type=int, default=10, help="rows per request")
    parser.add_argument("--requests", type=int, default=20, help="requests per start, for latency")
    args = parser.parse_args()

    import statistics  # after sys.path is fixed

    from headrace.components import model_server
    from headrace.components.pusher.registration import register
    from tests.models import penguin_model

    with tempfile.TemporaryDirectory(prefix="headrace-bench-serving-") as scratch:
        model, examples = penguin_model(Path(scratch))
        body = model_server.dataframe_split(examples.to_pandas("eval").drop(columns=["species"]).head(args.rows))
        startups, latencies = [], []
        for i in range(args.starts):
            log = os.path.join(scratch, f"server-{i}.log")
            with model_server.serving(model.uri, log_path=log) as server:
                startups.append(server.startup_seconds)
                answers = [model_server.invoke(server.url, body) for _ in range(args.requests)]
                latencies += [a.seconds * 1000 for a in answers[1:]]  # the first request warms up
                assert all(a.status == 200 for a in answers)
        uri = f"sqlite:///{scratch}/mlflow.db"
        started = time.perf_counter()
        register(uri, "penguin", "champion", model.uri, "benchmark", {})
        first = time.perf_counter() - started
        started = time.perf_counter()
        register(uri, "penguin", "champion", model.uri, "benchmark", {})
        again = time.perf_counter() - started

    print(
        f"mlflow models serve, start to /ping: median {statistics.median(startups):.2f} s "
        f"(min {min(startups):.2f}, max {max(startups):.2f}; {args.starts} starts)"
    )
    print(
        f"request latency, {args.rows} rows: p50 {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms ({len(latencies)} requests)"
    )
    print(f"registration (fresh SQLite tracking store, import included): {first:.2f} s; again: {again:.2f} s")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
