"""Columns declared nullable on every engine.

Engines prove different columns never null: JVM Spark knows that a CASE with a literal ELSE, a
`size()`, a `posexplode` position or a `collect_list`'s elements are never null, where Sail reports
them nullable; Sail reports the take rates' `credibility_k` not null where JVM Spark reports it
nullable. A table's schema must not depend on the engine that wrote it (the parity test
compares nullability), so the columns where they disagree are declared nullable here. Which columns
must hold a value is stated by the table's expectation suite, checked on every engine.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructField, StructType


def as_nullable(data_type: DataType) -> DataType:
    """`data_type` with every struct field, array element and map value nullable, at any depth."""
    if isinstance(data_type, StructType):
        return StructType([StructField(f.name, as_nullable(f.dataType), True, f.metadata) for f in data_type.fields])
    if isinstance(data_type, ArrayType):
        return ArrayType(as_nullable(data_type.elementType), True)
    if isinstance(data_type, MapType):
        return MapType(data_type.keyType, as_nullable(data_type.valueType), True)
    return data_type


def declare_nullable(df: DataFrame, *columns: str) -> DataFrame:
    """`df` with `columns` (and everything inside them) nullable on every engine; values unchanged."""
    types = {field.name: field.dataType for field in df.schema.fields}
    missing = [name for name in columns if name not in types]
    if missing:
        raise ValueError(f"declare_nullable: no column {missing} in {sorted(types)}")
    return df.withColumns(
        {name: F.when(F.col(name).isNotNull(), F.col(name)).cast(as_nullable(types[name])) for name in columns}
    )
