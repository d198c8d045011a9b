"""What ``headrace serve`` runs: MLflow's scoring server for a packaged model, plus TF Serving's REST predict API.

The app is MLflow's own (``mlflow.pyfunc.scoring_server.init``, what
``mlflow models serve`` and the infra validator run), so ``/ping``,
``/health``, ``/version`` and ``/invocations`` answer exactly as there:
MLflow's formats (``dataframe_split``, ``dataframe_records``, CSV, and TF
Serving's ``instances`` / ``inputs`` bodies, answered MLflow's way:
``{"predictions": [label, ...]}``). Added are TF Serving's paths, answered
as TF Serving answers for the pusher's SavedModel (``tf_serving_rest``):

- ``POST /v1/models/<name>:predict`` and
  ``POST /v1/models/<name>/versions/<version>:predict``;
- ``GET /v1/models/<name>`` (and ``/versions/<version>``): the version's
  status, ``AVAILABLE``, as TF Serving says it;
- ``GET /v1/models/<name>/metadata`` (and ``/versions/<version>/metadata``):
  the ``serving_default`` signature, what a client sends and gets back.

``<name>`` is the pusher's ``model_name``; another name is answered 404, as
TF Serving does. Run it with uvicorn's ``--factory`` on
:func:`app_from_environment` (:func:`command` gives the command line); the
model and its name come from the environment, as MLflow passes its model to
its uvicorn.
"""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations (Request, imported inside
# create_app) at run time, and a string it cannot resolve makes it take `request` for a query parameter
import asyncio
import json
import os
import sys
from typing import Any

ENV_MODEL_URI = "HEADRACE_SERVE_MODEL_URI"
ENV_MODEL_NAME = "HEADRACE_SERVE_MODEL_NAME"
ENV_MODEL_VERSION = "HEADRACE_SERVE_MODEL_VERSION"  # "" when the model directory is not a numbered version


def command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The uvicorn command line that serves the app of the environment's model (one worker, like MLflow's)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"{__name__}:app_from_environment",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def environment(model_uri: str, model_name: str, version: int | None) -> dict[str, str]:
    """The variables :func:`app_from_environment` reads."""
    return {
        ENV_MODEL_URI: model_uri,
        ENV_MODEL_NAME: model_name,
        ENV_MODEL_VERSION: "" if version is None else str(version),
    }


def app_from_environment() -> Any:
    """The app for the model the environment names (uvicorn's factory)."""
    version = os.environ.get(ENV_MODEL_VERSION, "")
    return create_app(os.environ[ENV_MODEL_URI], os.environ[ENV_MODEL_NAME], int(version) if version else None)


def create_app(model_uri: str, model_name: str, version: int | None = None) -> Any:
    """MLflow's scoring app for ``model_uri`` with TF Serving's predict and status paths for ``model_name``."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from mlflow.pyfunc import scoring_server

    pyfunc = scoring_server.load_model_with_mlflow_config(model_uri)
    app = scoring_server.init(pyfunc)
    packaged = getattr(_python_model(pyfunc), "packaged", None)
    served = str(version) if version is not None else "1"

    def not_found(name: str, asked: str | None) -> JSONResponse | None:
        if name != model_name:
            return JSONResponse(
                {
                    "error": f"Servable not found for request: Latest({name}): this server serves model "
                    f"{model_name!r} (POST /v1/models/{model_name}:predict)"
                },
                status_code=404,
            )
        if asked is not None and asked != served:
            return JSONResponse(
                {
                    "error": f"Servable not found for request: Specific({name}, {asked}): this server serves "
                    f"version {served} of {model_name!r}"
                },
                status_code=404,
            )
        return None

    async def predict(request: Request, name: str, asked: str | None) -> JSONResponse:
        from headrace.components.model_package import ModelPackageError
        from headrace.components.problems import ProblemError
        from headrace.components.tf_serving_rest import FORMATS, BadRequest
        from headrace.components.tf_serving_rest import predict as answer

        missing = not_found(name, asked)
        if missing is not None:
            return missing
        if packaged is None:
            return JSONResponse(
                {"error": f"{model_uri} is an MLflow model headrace did not package: use POST /invocations"},
                status_code=501,
            )
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return JSONResponse({"error": f"the request is not JSON ({exc}); send {FORMATS}"}, status_code=400)
        try:
            return JSONResponse(await asyncio.to_thread(answer, packaged, body))
        except (BadRequest, ProblemError, ModelPackageError) as exc:  # the request's values, said by the model
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # a failure of the model itself: said, not hidden behind a bare 500
            return JSONResponse({"error": f"the model failed: {type(exc).__name__}: {exc}"}, status_code=500)

    def status() -> JSONResponse:
        return JSONResponse(
            {
                "model_version_status": [
                    {"version": served, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                ]
            }
        )

    @app.post("/v1/models/{name}:predict")
    async def predict_latest(request: Request, name: str) -> JSONResponse:
        return await predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{asked}:predict")
    async def predict_version(request: Request, name: str, asked: str) -> JSONResponse:
        return await predict(request, name, asked)

    def metadata(name: str, asked: str | None) -> JSONResponse:
        from headrace.components.tf_serving_rest import metadata as signature

        missing = not_found(name, asked)
        if missing is not None:
            return missing
        if packaged is None:
            return JSONResponse({"error": f"{model_uri} is an MLflow model headrace did not package"}, status_code=501)
        return JSONResponse(signature(packaged, model_name, served))

    @app.get("/v1/models/{name}/metadata")
    async def metadata_latest(name: str) -> JSONResponse:
        return metadata(name, None)

    @app.get("/v1/models/{name}/versions/{asked}/metadata")
    async def metadata_version(name: str, asked: str) -> JSONResponse:
        return metadata(name, asked)

    @app.get("/v1/models/{name}")
    async def status_latest(name: str) -> JSONResponse:
        return not_found(name, None) or status()

    @app.get("/v1/models/{name}/versions/{asked}")
    async def status_version(name: str, asked: str) -> JSONResponse:
        return not_found(name, asked) or status()

    return app


def _python_model(pyfunc: Any) -> Any:
    """The ``PythonModel`` inside an MLflow pyfunc model, or None (another flavor's model)."""
    try:
        return pyfunc.unwrap_python_model()
    except Exception:
        return None
