import pytest

from make_files import BAD_FILES, write_valid


@pytest.fixture
def kvsim_file(tmp_path):
    return write_valid(tmp_path / "run.h5")


@pytest.fixture(params=sorted(BAD_FILES))
def bad_file(request, tmp_path):
    """(path, word the error message must contain) for each kind of bad input."""
    build, word = BAD_FILES[request.param]
    return build(tmp_path / f"{request.param}.h5"), word
