"""What a model file records of the test set it was scored on when it was trained, so that
``softgrad evaluate`` on the same data set can tell when its test set is another one: an
earlier softgrad split the digits 1,438 / 359 where it now splits them 1,437 / 360, so a model
of then, evaluated now, was scored on a sample it had trained on, and nothing said so; a CSV
file may change after a model was trained on its 80%."""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.training.together import values_checksum

#: the metadata entry: {"n": samples, "labels": crc32 of their class indices in order}
KEY = "test_split"


def record(y_test: Any) -> dict[str, Any]:
    """The metadata entry for the test labels ``y_test`` (class indices)."""
    labels = np.asarray(y_test, dtype=np.int64)
    return {"n": int(labels.shape[0]), "labels": values_checksum(labels)}


def changed_note(metadata: Any, y_test: Any, spec: str) -> str | None:
    """The note for a test set of ``spec`` other than the one the model recorded, or None
    (the same one, or a model that records none: trained before it was recorded)."""
    recorded = (metadata or {}).get(KEY)
    if not isinstance(recorded, dict) or recorded == record(y_test):
        return None
    now = record(y_test)["n"]
    then = recorded.get("n")
    sizes = f"{now:,} samples now, {then:,} then" if isinstance(then, int) else f"{now:,} now"
    return (
        f"the test set of {spec!r} is not the one the model was scored on when it was trained "
        f"({sizes}): its data changed since, or a softgrad of another version split it "
        "otherwise, and the score may count samples the model trained on"
    )
