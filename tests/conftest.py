"""Test-wide settings: caches go to a temporary folder, never the user's home."""
import pytest

from vidssl.data import video


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VIDSSL_CACHE", str(tmp_path_factory.mktemp("vidssl-cache")))
    yield
    mp.undo()


@pytest.fixture
def decode_counter(monkeypatch) -> list[int]:
    """Counts frames the reader pulls out of the decoder."""
    count = [0]
    original = video._decoded_frames

    def counting(container, stream):
        for item in original(container, stream):
            count[0] += 1
            yield item

    monkeypatch.setattr(video, "_decoded_frames", counting)
    return count
