"""The ``importer`` component: a file or folder made outside the pipeline (a pretrained model), as an artifact."""
