import pytest
from pyspark.sql import functions as F

from spark_transforms.nullability import as_nullable, declare_nullable


def _nullable_everywhere(data_type) -> bool:
    shape = data_type.jsonValue()

    def walk(node) -> bool:
        if isinstance(node, dict):
            if node.get("nullable") is False or node.get("containsNull") is False or node.get("valueContainsNull") is False:
                return False
            return all(walk(value) for value in node.values())
        if isinstance(node, list):
            return all(walk(value) for value in node)
        return True

    return walk(shape)


def test_declared_columns_become_nullable_at_every_depth_and_keep_their_values(spark):
    df = spark.createDataFrame([(1, "a"), (1, "b"), (2, "c")], "k int, v string").groupBy("k").agg(
        F.count("v").alias("n"),
        F.array_sort(F.collect_list(F.struct(F.col("v").alias("v"), F.lit(1).alias("one")))).alias("items"),
    )
    declared = declare_nullable(df, "n", "items")
    fields = {field.name: field for field in declared.schema.fields}
    assert fields["n"].nullable and _nullable_everywhere(fields["items"].dataType)
    assert fields["k"].nullable == df.schema["k"].nullable  # an undeclared column keeps what the engine proved
    assert [field.name for field in declared.schema.fields] == ["k", "n", "items"]
    assert sorted(map(tuple, declared.collect())) == sorted(map(tuple, df.collect()))


def test_as_nullable_leaves_map_keys_and_atoms_alone():
    from pyspark.sql.types import ArrayType, IntegerType, MapType, StringType, StructField, StructType

    strict = MapType(StringType(), StructType([StructField("x", ArrayType(IntegerType(), False), False)]), False)
    widened = as_nullable(strict)
    assert widened.keyType == StringType() and widened.valueContainsNull
    assert widened.valueType.fields[0].nullable and widened.valueType.fields[0].dataType.containsNull
    assert as_nullable(IntegerType()) == IntegerType()


def test_an_unknown_column_is_named(spark):
    df = spark.createDataFrame([(1,)], "k int")
    with pytest.raises(ValueError, match=r"no column \['nope'\]"):
        declare_nullable(df, "nope")
