"""Ingest: read CSV / Parquet / JSON Lines or an image folder, split rows by a deterministic hash, write Examples.

Public entry points: ``Ingest`` (the component), ``IngestParameters``,
``IngestError`` and ``list_source_files`` (the runner's view of which files a
source names, for cache fingerprints). Importing this package stays light;
pyarrow is imported when data is read.
"""

from headrace.components.ingest.component import Ingest, IngestParameters
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.sources import list_source_files

__all__ = ["Ingest", "IngestError", "IngestParameters", "list_source_files"]
