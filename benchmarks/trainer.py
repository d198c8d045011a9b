"""What the trainer costs on the penguins, cold, and where the time goes.

1. Import costs, each in a fresh interpreter (what a cold trainer pays before it trains).
2. The trainer step of the penguin example on a fresh store, as ``headrace show`` records it
   (a fresh ``headrace run`` of a fresh copy of the example each time).
3. Its stages in one fresh process, from the component's own progress notes: reading the inputs and
   importing the user module (scikit-learn), calling ``train(ctx)`` and checking what it returned
   (which imports mlflow.pyfunc), measuring the fit, saving the MLflow model, and with ``export: onnx``
   the ONNX export and its check. The fit alone is the trainer's ``fit_seconds`` metric.

Each figure is the best of BENCH_REPEAT (3) runs: the machine may be shared, and other work only
ever adds time.

    .venv/bin/python benchmarks/trainer.py
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
HEADRACE = str(Path(sys.executable).parent / "headrace")
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))

IMPORTS = {  # label: (imported first, not counted; measured)
    "numpy + pandas + pyarrow": ("pass", "import numpy, pandas, pyarrow"),
    "sklearn.linear_model": ("import numpy, pandas, pyarrow", "import sklearn.linear_model"),
    "mlflow.pyfunc": ("import numpy, pandas, pyarrow", "import mlflow.pyfunc"),
    "mlflow.sklearn (after pyfunc)": ("import mlflow.pyfunc, sklearn", "import mlflow.sklearn"),
    "skl2onnx + onnxruntime": ("import numpy, sklearn", "import skl2onnx, onnxruntime"),
}

_STAGES = r"""
import json, logging, sys, time
start = time.perf_counter()
from headrace.components.artifacts import Examples, Model, TransformGraph
from headrace.components.contract import Context
from headrace.components.trainer.component import TrainerComponent
from headrace.components.trainer.spec import TrainerParameters
inputs = json.loads(sys.argv[1])
marks = [("start", time.perf_counter())]
params = TrainerParameters.model_validate({"module": sys.argv[3], "label": "species", "export": sys.argv[4]})
ctx = Context(component="trainer", params=params, log=logging.getLogger("bench"),
              inputs={"examples": Examples(**inputs["examples"]), "transform_graph": TransformGraph(**inputs["graph"]),
                      "raw_examples": Examples(**inputs["raw"]), "schema": None},
              outputs={"model": Model(uri=sys.argv[2])}, on_progress=lambda note: marks.append((note, time.perf_counter())))
TrainerComponent().run(ctx)
marks.append(("done", time.perf_counter()))
print(json.dumps({"marks": [(n, t - start) for n, t in marks]}))
"""


def best(values: list[float]) -> float:
    return min(values)


def import_cost(setup: str, measured: str) -> float:
    probe = f"import time\n{setup}\nt = time.perf_counter()\n{measured}\nprint(time.perf_counter() - t)"
    done = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def fresh_example(folder: str) -> str:
    target = os.path.join(folder, "penguin")
    shutil.copytree(ROOT / "examples" / "penguin", target, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    return os.path.join(target, "pipeline.yaml")


def trainer_step_cold() -> tuple[float, float, dict, float]:
    """On a fresh store: the trainer's recorded duration, the run's, the stages in a fresh process, the fit."""
    with tempfile.TemporaryDirectory() as folder:
        pipeline = fresh_example(folder)
        subprocess.run([HEADRACE, "run", pipeline, "-q"], check=True, capture_output=True)
        run_id = subprocess.run(
            [HEADRACE, "runs", "-p", pipeline, "--ids"], check=True, capture_output=True, text=True
        ).stdout.split()[0]
        shown = json.loads(
            subprocess.run(
                [HEADRACE, "show", run_id, "-p", pipeline, "--format", "json"], check=True, capture_output=True
            ).stdout
        )
        by = {e["component"]: e for e in shown["executions"]}
        inputs = {
            "examples": by["transform"]["outputs"]["transformed_examples"],
            "graph": by["transform"]["outputs"]["transform_graph"],
            "raw": by["ingest"]["outputs"]["examples"],
        }
        stages = {
            export: _stages(inputs, os.path.join(folder, f"model-{export}"), os.path.dirname(pipeline), export)
            for export in ("none", "onnx")
        }
        return by["trainer"]["duration_s"], shown["duration_s"], stages, by["trainer"]["metrics"]["fit_seconds"]


def _stages(inputs: dict, out: str, folder: str, export: str) -> dict[str, float]:
    args = {k: {"uri": v["uri"], "properties": v["properties"]} for k, v in inputs.items()}
    done = subprocess.run(
        [PYTHON, "-c", _STAGES, json.dumps(args), out, os.path.join(folder, "model.py"), export],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    if done.returncode:
        raise SystemExit(f"the trainer failed:\n{done.stderr}")
    marks = json.loads(done.stdout.splitlines()[-1])["marks"]
    names = {
        "start": "inputs read, model.py imported",
        "training": "train(ctx), model checks (import mlflow)",
        "measuring": "training metrics",
        "saving": "save MLflow model",
        "exporting": "ONNX export + check",
    }
    out_stages: dict[str, float] = {}
    for (note, at), (_, until) in itertools.pairwise(marks):
        key = next((v for k, v in names.items() if note.startswith(k)), note)
        out_stages[key] = until - at
    return out_stages


def main() -> None:
    print(f"best of {REPEAT} runs, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("\nimport costs (fresh interpreter):")
    for label, (setup, measured) in IMPORTS.items():
        print(f"  {label:<32} {best([import_cost(setup, measured) for _ in range(REPEAT)]):6.2f} s")
    results = [trainer_step_cold() for _ in range(REPEAT)]
    print("\npenguin example, fresh store, `headrace run` (CLI start included):")
    print(f"  trainer step                     {best([r[0] for r in results]):6.2f} s")
    print(f"  whole run                        {best([r[1] for r in results]):6.2f} s")
    print(f"  of which the fit (fit_seconds)   {best([r[3] for r in results]):6.2f} s")
    for export in ("none", "onnx"):
        print(f"\ntrainer stages in a fresh process, export: {export}:")
        keys = list(results[0][2][export])
        for key in keys:
            print(f"  {key:<32} {best([r[2][export].get(key, 0.0) for r in results]):6.2f} s")


if __name__ == "__main__":
    main()
