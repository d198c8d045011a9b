"""alembic environment for the metadata store, driven from code.

``headrace.metadata.migrations`` hands over a connection that already holds the
migration lock inside an open transaction (``config.attributes["connection"]``),
so alembic joins that transaction instead of managing its own. Without one,
the URL from the config's ``sqlalchemy.url`` is used (developer use:
``alembic.command.revision(alembic_config(url=...), ..., autogenerate=True)``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from headrace.metadata.engines import engine_for
from headrace.metadata.tables import VERSION_TABLE, metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic_config(url=...) or a connection is needed to run migrations")
    with engine_for(url).connect() as conn:
        _run(conn)
        conn.commit()
