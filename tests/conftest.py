"""pytest fixtures; the helpers themselves live in :mod:`tests.support`."""

from tests.support import in_coffer, native  # noqa: F401 - fixtures
