"""The bundled LRS LearnerService client: a Python API (:class:`LrsClient`) and ``miap-client``.

from miap.client import LrsClient, LrsFault
"""

from miap.client.codes import describe
from miap.client.exceptions import (
    LrsConnectionError,
    LrsError,
    LrsFault,
    LrsProtocolError,
    LrsRequestError,
)
from miap.client.lrs import LrsClient

__all__ = [
    "LrsClient",
    "LrsConnectionError",
    "LrsError",
    "LrsFault",
    "LrsProtocolError",
    "LrsRequestError",
    "describe",
]
