"""botocore's service models, endpoints and partitions loaded once per process instead of once per session.

botocore caches what its Loader reads on the Loader instance, and every boto3 session has its own. moto's
`mock_aws` replaces boto3's default session on every start, so each test (and each fixture) that makes a
client read and parsed the service's model JSON and the ~1 MB endpoints.json again: ~20 s of the ~170 s of
CPU one suite run took (measured with py-spy). In production a Lambda process makes one session;
the tests now pay for it once too. The files are read-only data: a Loader returns the same cached objects to
every caller of one session, and now of every session with the same search paths.
"""

from __future__ import annotations

from typing import Any

from botocore import loaders

_LOADED: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[Any, Any]] = {}
_original_init = loaders.Loader.__init__


def _init_sharing_cache(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    # Loaders with other search paths (AWS_DATA_PATH, a custom loader) keep caches of their own.
    key = (tuple(self.search_paths), tuple(self._extras_types))
    self._cache = _LOADED.setdefault(key, {})


def share_loaded_models() -> None:
    """Idempotent: every Loader made after this shares one cache per search path."""
    loaders.Loader.__init__ = _init_sharing_cache
