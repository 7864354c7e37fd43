"""Gate tests train real models: each test gets its own dataset cache (no test reads another's
files) and one torch thread (Pants runs test files in parallel on a few shared cores)."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_cache_one_thread(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("WORLDFLUX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
