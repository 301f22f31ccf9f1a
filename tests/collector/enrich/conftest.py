from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.enrich import mmdbs


@pytest.fixture(scope="session")
def mmdb(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of test database, plus broken files: name -> path."""
    folder = tmp_path_factory.mktemp("mmdb")
    paths = {name: build(folder / f"{name}.mmdb") for name, build in mmdbs.ALL.items()}
    paths["corrupt"] = mmdbs.corrupt(folder / "corrupt.mmdb", paths["enterprise"])
    paths["garbled"] = mmdbs.garbled(folder / "garbled.mmdb", paths["enterprise"])
    paths["text"] = folder / "notes.mmdb"
    paths["text"].write_text("not a database\n")
    paths["missing"] = folder / "missing.mmdb"
    return paths
