"""An HMAC-SHA256-signed envelope for state that is not plain data (pickles of river models).

Loading a pickle executes code, so a pickle is only ever unpickled after its signature
verifies with the key: :func:`open_envelope` refuses a missing key, a wrong key or any
changed byte before ``pickle.loads`` is reached. The key is a parameter (detectors/ does
no I/O); :func:`key_from_environment` is the small helper the pipeline calls to read it
from ``LINEWATCH_STATE_KEY``. The detectors of this package keep data-only state and do
not need the envelope; it is here for models whose parameters cannot be written as data.

Layout: ``b"LWENV1" + 32-byte HMAC-SHA256(key, payload) + payload``.

>>> sealed = seal({"weights": [1.0, 2.0]}, key=b"secret")
>>> open_envelope(sealed, key=b"secret")
{'weights': [1.0, 2.0]}
>>> try:
...     open_envelope(sealed, key=b"other")
... except EnvelopeError as exc:
...     print(exc)
state signature does not verify (wrong key or altered bytes)
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from collections.abc import Mapping
from typing import Any

__all__ = ["ENV_VAR", "EnvelopeError", "key_from_environment", "open_envelope", "seal"]

#: The environment variable the pipeline reads the key from.
ENV_VAR = "LINEWATCH_STATE_KEY"
_MAGIC = b"LWENV1"
_DIGEST = 32


class EnvelopeError(ValueError):
    """A state envelope that must not be opened."""


def _check_key(key: bytes | None) -> bytes:
    if not key:
        raise EnvelopeError(f"no state key: set {ENV_VAR} to restore signed state")
    return key


def seal(obj: Any, key: bytes | None) -> bytes:
    """``obj`` pickled and signed with ``key``."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    signature = hmac.new(_check_key(key), payload, hashlib.sha256).digest()
    return _MAGIC + signature + payload


def open_envelope(data: bytes, key: bytes | None) -> Any:
    """The object sealed in ``data``; :class:`EnvelopeError` unless the signature verifies."""
    secret = _check_key(key)
    if len(data) < len(_MAGIC) + _DIGEST or not data.startswith(_MAGIC):
        raise EnvelopeError("not a signed state envelope")
    signature = data[len(_MAGIC) : len(_MAGIC) + _DIGEST]
    payload = data[len(_MAGIC) + _DIGEST :]
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise EnvelopeError("state signature does not verify (wrong key or altered bytes)")
    return pickle.loads(payload)


def key_from_environment(environ: Mapping[str, str]) -> bytes | None:
    """The key from ``environ[ENV_VAR]`` (the pipeline passes ``os.environ``), or None.

    >>> key_from_environment({"LINEWATCH_STATE_KEY": "k3y"}), key_from_environment({})
    (b'k3y', None)
    """
    value = environ.get(ENV_VAR, "")
    return value.encode() if value else None
