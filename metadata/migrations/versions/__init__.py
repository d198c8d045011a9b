"""alembic revisions of the metadata store (a package so setuptools ships them)."""
