# The image every Kubeflow task of a headrace pipeline runs in: Python, headrace and its libraries.
# User code is not baked in: `headrace compile` packs it into the compiled pipeline, so the image
# changes only when headrace or a library does. Nothing is installed from the network at run time
# (the compiled tasks do not pip-install kfp; it is a dependency of headrace).
#
#   docker build -t REGISTRY/headrace:0.1.0 .
#   docker push REGISTRY/headrace:0.1.0
#   headrace compile pipeline.yaml --image REGISTRY/headrace:0.1.0   (or kubeflow: {image: ...} in the YAML)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/headrace
COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY metadata ./metadata
RUN pip install . \
    && headrace --help > /dev/null \
    && python -m headrace.pipelines.kubeflow.task_entry --help > /dev/null \
    && python -m kfp.dsl.executor_main --help > /dev/null

# where each task unpacks the pipeline's code (once per content)
ENV HEADRACE_CODE_DIR=/tmp/headrace-code
WORKDIR /
