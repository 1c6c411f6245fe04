"""One use per upload form, decided in the catalog: of racing claims exactly one wins."""

from __future__ import annotations

import threading
from pathlib import Path

from app.catalog import ImageRecord
from app.catalog.sqlite import SQLiteCatalog
from app.uploads import single_use


def test_of_racing_receivers_exactly_one_wins_and_can_give_it_back(tmp_path: Path) -> None:
    catalog = SQLiteCatalog(tmp_path / "c.db")
    catalog.add(ImageRecord("a", "u", 1.0, "file:///a", "a", "image/jpeg", "a.jpg"))
    racers = 12
    start = threading.Barrier(racers)
    wins: list[bool] = []

    def take() -> None:
        start.wait()
        wins.append(single_use.receive(catalog, "a"))

    threads = [threading.Thread(target=take) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * (racers - 1) + [True]
    single_use.unreceive(catalog, "a")
    assert single_use.receive(catalog, "a") is True
    assert single_use.receive(catalog, "a") is False
