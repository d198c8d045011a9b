"""``DirectRunner`` in a pipeline file: Beam's Python runner (FnApiRunner), never a detour through Prism.

Beam 2.77's ``DirectRunner`` first tries Prism: it downloads a Go binary at
run time when the machine is online, and falls back silently (after a failed
download and a second translation of the pipeline) when it is not. That makes
a run depend on network access, fetch an executable while it runs, and cost
about a tenth of a second more per Beam pipeline. The design fixes the
meaning: ``DirectRunner`` is the Python runner, in memory or with
``direct_running_mode: multi_processing``; Prism only when the file names
``PrismRunner``. ``beam_options.pipeline_options`` maps the name here.

Imported only when a Beam pipeline runs (it imports Beam).
"""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.runner import PipelineRunner


class PythonDirectRunner(PipelineRunner):
    """What Beam's ``SwitchingDirectRunner`` runs once it has ruled Prism out, without trying Prism first.

    Batch pipelines run on the FnApiRunner with the pipeline's options handed
    to its workers (as the switching runner does); a streaming pipeline, which
    the FnApiRunner cannot run, goes to the BundleBasedDirectRunner, as there.
    """

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        if options.view_as(StandardOptions).streaming:
            from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

            return BundleBasedDirectRunner().run_pipeline(pipeline, options)
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)
