import pytest

from make_files import BAD_FILES, write_flat, write_full, write_valid


@pytest.fixture
def kvsim_file(tmp_path):
    return write_valid(tmp_path / "run.h5")


@pytest.fixture(params=sorted(BAD_FILES))
def bad_file(request, tmp_path):
    """(path, word the error message must contain) for each kind of bad input."""
    build, word = BAD_FILES[request.param]
    return build(tmp_path / f"{request.param}.h5"), word


@pytest.fixture
def full_file(tmp_path):
    """Decode sweep over two designs and three context lengths: every report plot can be drawn."""
    return write_full(tmp_path / "full.h5")


@pytest.fixture
def flat_file(tmp_path):
    """Prefill-only sweep at one context length: the context and decode plots must be skipped."""
    return write_flat(tmp_path / "flat.h5")
