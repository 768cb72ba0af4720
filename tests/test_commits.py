"""Delta commit conflicts: retried when doing the write again is safe, reported in plain words when
they persist, other errors never retried. The conflicting writer is simulated by a save that raises
the error Sail raised when two `autolake run` processes committed to one table (no second engine
can be made to race deterministically here)."""

import pytest

from autolake.lakehouse.commits import TableCommitConflict, commit
from autolake.lakehouse.tables import SILVER_LISTING_VEHICLE, Tables

SAIL_CONFLICT = "SparkRuntimeException: Failed to commit transaction: 0"


class Conflicting:
    """A save that meets a conflicting commit `conflicts` times, then writes for real."""

    def __init__(self, conflicts: int, error: Exception | None = None):
        self.conflicts, self.error, self.calls = conflicts, error, 0

    def __call__(self, writer, location):
        self.calls += 1
        if self.calls <= self.conflicts:
            raise self.error or RuntimeError(SAIL_CONFLICT)
        writer.save(location)


def test_a_conflict_is_retried_and_the_write_lands(spark, settings):
    location = Tables(settings).location(SILVER_LISTING_VEHICLE)
    frame = spark.createDataFrame([("l1", "v1")], "listing_id string, vehicle_id string")
    save = Conflicting(conflicts=2)
    commit(save, frame.write.format("delta").mode("overwrite"), location, ref=SILVER_LISTING_VEHICLE, pause_s=0)
    assert save.calls == 3
    assert [tuple(r) for r in spark.read.format("delta").load(location).collect()] == [("l1", "v1")]


def test_a_persistent_conflict_names_the_table_the_version_and_what_to_do(spark, settings):
    location = Tables(settings).location(SILVER_LISTING_VEHICLE)
    frame = spark.createDataFrame([("l1", "v1")], "listing_id string, vehicle_id string")
    commit(Conflicting(0), frame.write.format("delta").mode("overwrite"), location, ref=SILVER_LISTING_VEHICLE)
    save = Conflicting(conflicts=10)
    with pytest.raises(TableCommitConflict) as refused:
        commit(save, frame.write.format("delta").mode("overwrite"), location, ref=SILVER_LISTING_VEHICLE, pause_s=0)
    assert save.calls == 3
    message = str(refused.value)
    assert message.startswith(f"table silver.listing_vehicle ({location}): the commit of version 1 conflicted "
                              f"with another writer 3 times ({SAIL_CONFLICT})")
    assert "the table is intact at version 0" in message
    assert "let it finish or stop it, then re-run this partition" in message


def test_other_errors_are_not_retried(spark, settings):
    location = Tables(settings).location(SILVER_LISTING_VEHICLE)
    frame = spark.createDataFrame([("l1",)], "listing_id string")
    save = Conflicting(conflicts=5, error=ValueError("column vehicle_id missing"))
    with pytest.raises(ValueError, match="column vehicle_id missing"):
        commit(save, frame.write.format("delta"), location, ref=SILVER_LISTING_VEHICLE, pause_s=0)
    assert save.calls == 1
