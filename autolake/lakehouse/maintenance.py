"""Table maintenance: compact small files, then vacuum the files no retained version needs.

Every daily write adds files: a replaced partition leaves its old files behind, and a restated
snapshot leaves a whole copy of the table. Readers only open the live files, but the disk keeps
every version, and many small files slow every scan. The weekly `maintenance` step bounds both:

- **compaction** rewrites the partitions that hold more than one live file into files of about
  `target_file_mb` (one new Delta version; a table whose partitions each hold one file is left
  as it is, so a weekly run on a healthy table commits nothing);
- **vacuum** deletes the files that no version younger than `vacuum_retention_hours` references
  (recorded in the table's history as VACUUM START and VACUUM END; a table with nothing to delete
  is not touched). Time travel to older versions ends there; 168 hours (Delta's default) keeps a
  week of it.

Local tables are maintained with delta-rs (Sail has no OPTIMIZE or VACUUM); tables in a catalog
(Databricks) with the engine's `OPTIMIZE` and `VACUUM`. Rows never change: compaction rewrites
files, not data, and vacuum removes only files no live version reads.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from autolake.lakehouse.publish import LayerResult
from autolake.lakehouse.settings import MaintenanceSettings, Settings
from autolake.lakehouse.tables import Tables, TableRef

log = logging.getLogger(__name__)

DELTA_DEFAULT_RETENTION_HOURS = 168


@dataclass(frozen=True)
class TableMaintenance:
    """One table before and after: live files and bytes (what a reader opens), bytes on disk
    (every version's files), the Delta version, and what compaction and vacuum did."""

    table: str
    version_before: int
    version_after: int
    live_files_before: int
    live_files_after: int
    live_bytes_before: int
    live_bytes_after: int
    disk_bytes_before: int
    disk_bytes_after: int
    files_compacted: int
    files_vacuumed: int


def _disk_bytes(location: Path) -> int:
    return sum(path.stat().st_size for path in location.rglob("*.parquet") if path.is_file())


def _live(table) -> tuple[int, int, Counter]:
    """Live files, their bytes, and the number of files per partition (one key for an unpartitioned table)."""
    import pyarrow as pa

    actions = pa.table(table.get_add_actions(flatten=True)).to_pydict()
    paths = actions.get("path", [])
    sizes = actions.get("size_bytes", [])
    partition_columns = [name for name in actions if name.startswith("partition.")]
    per_partition = Counter(tuple(actions[name][i] for name in partition_columns) for i in range(len(paths)))
    return len(paths), int(sum(sizes)), per_partition


def footprint(location: str) -> tuple[int, int, int] | None:
    """(live files, live bytes, bytes on disk) of the local Delta table at `location`; None when it is not a table."""
    from deltalake import DeltaTable

    if not (Path(location) / "_delta_log").is_dir():
        return None
    files, size, _ = _live(DeltaTable(location))
    return files, size, _disk_bytes(Path(location))


def maintain_local(location: str, name: str, config: MaintenanceSettings) -> TableMaintenance | None:
    """Compact and vacuum the Delta table at `location` with delta-rs; None when it is not a table."""
    from deltalake import DeltaTable

    folder = Path(location)
    if not (folder / "_delta_log").is_dir():
        return None
    table = DeltaTable(location)
    version_before = table.version()
    files_before, bytes_before, per_partition = _live(table)
    disk_before = _disk_bytes(folder)
    compacted = 0
    if any(count > 1 for count in per_partition.values()):
        metrics = table.optimize.compact(target_size=config.target_file_mb * 1024 * 1024)
        compacted = int(metrics.get("numFilesRemoved", 0))
        table = DeltaTable(location)
    vacuum = {"retention_hours": config.vacuum_retention_hours,
              "enforce_retention_duration": config.vacuum_retention_hours >= DELTA_DEFAULT_RETENTION_HOURS}
    removable = [path for path in table.vacuum(dry_run=True, **vacuum) if (folder / path).is_file()]
    if removable:
        table.vacuum(dry_run=False, **vacuum)
        table = DeltaTable(location)
    files_after, bytes_after, _ = _live(table)
    return TableMaintenance(
        table=name,
        version_before=version_before,
        version_after=table.version(),
        live_files_before=files_before,
        live_files_after=files_after,
        live_bytes_before=bytes_before,
        live_bytes_after=bytes_after,
        disk_bytes_before=disk_before,
        disk_bytes_after=_disk_bytes(folder),
        files_compacted=compacted,
        files_vacuumed=len(removable),
    )


def maintain_catalog(spark, location: str, name: str, config: MaintenanceSettings) -> TableMaintenance | None:
    """OPTIMIZE and VACUUM a catalog table with the engine's SQL (Databricks); file figures from DESCRIBE DETAIL."""
    if not spark.catalog.tableExists(location):
        return None

    def detail() -> tuple[int, int]:
        row = spark.sql(f"DESCRIBE DETAIL {location}").first()
        return int(row["numFiles"]), int(row["sizeInBytes"])

    def version() -> int:
        return int(spark.sql(f"DESCRIBE HISTORY {location} LIMIT 1").first()["version"])

    version_before, (files_before, bytes_before) = version(), detail()
    spark.sql(f"OPTIMIZE {location}")
    spark.sql(f"VACUUM {location} RETAIN {config.vacuum_retention_hours} HOURS")
    files_after, bytes_after = detail()
    return TableMaintenance(name, version_before, version(), files_before, files_after, bytes_before, bytes_after,
                            bytes_before, bytes_after, max(files_before - files_after, 0), 0)


def run(spark, settings: Settings, refs: Sequence[TableRef]) -> LayerResult:
    """Maintain each of the OEM's tables `refs` that exists."""
    config = settings.lakehouse.maintenance
    lakehouse = Tables(settings)
    done: list[TableMaintenance] = []
    for ref in refs:
        location = lakehouse.location(ref)
        if lakehouse.uses_catalog:
            result = maintain_catalog(spark, location, str(ref), config)
        else:
            result = maintain_local(location, str(ref), config)
        if result is None:
            continue
        log.info("maintenance %s: live files %d -> %d, on disk %.1f -> %.1f MB, %d compacted, %d vacuumed",
                 result.table, result.live_files_before, result.live_files_after, result.disk_bytes_before / 1e6,
                 result.disk_bytes_after / 1e6, result.files_compacted, result.files_vacuumed)
        done.append(result)
    totals = {
        field: sum(getattr(result, field) for result in done)
        for field in ("live_files_before", "live_files_after", "disk_bytes_before", "disk_bytes_after",
                      "files_compacted", "files_vacuumed")
    }
    return LayerResult(metrics={
        "tables_maintained": len(done),
        **{f"maintenance/{name}": value for name, value in totals.items()},
        "maintenance_tables": [asdict(result) for result in done],
    })
