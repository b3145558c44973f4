"""The whole schema: every model module imported, so ``metadata`` holds every table.

Each capability keeps its models beside the others in ``storage/`` (the register's in
``models.py``, learning records, the SIF zone, the provider register, the portal); a test
holds the migrations to exactly this metadata.
"""

from miap.storage import models, portal, records, sif, ukrlp  # noqa: F401 - registers tables

metadata = models.Base.metadata
