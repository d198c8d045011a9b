"""Kubeflow Pipelines: compile a pipeline file to KFP v2 IR, submit it, schedule it.

Each KFP task runs ``execute_task`` on the serialisable ``Task`` of its node,
the same call the local runner makes; the user code travels inside the
compiled file (``code_pack``). kfp is imported only inside the functions that
need it, so the CLI starts fast.
"""
