"""Test-wide settings: caches go to a temporary folder, never the user's home."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VIDSSL_CACHE", str(tmp_path_factory.mktemp("vidssl-cache")))
    yield
    mp.undo()
