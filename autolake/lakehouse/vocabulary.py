"""The listing vocabulary: an OEM's option rules (conf/oems/<oem>/vocabulary/options.yaml, validated on
load) and the paint colour palette every OEM shares (conf/vocabulary/colours.yaml), which photo colours
are named in."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autolake.lakehouse.settings import ConfigError, conf_root
from spark_transforms.attributes import AttributeRule


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    pattern: str = Field(min_length=1)


class _Type(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exclusive: bool = False
    rules: list[_Rule] = Field(min_length=1)


class _Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attribute_types: dict[str, _Type] = Field(min_length=1)


def load_rules(path: Path) -> list[AttributeRule]:
    """Ordered rules; a bad key or a pattern that does not compile names the file and the rule."""
    try:
        vocabulary = _Vocabulary.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    rules = []
    for attribute_type, spec in vocabulary.attribute_types.items():
        for rule in spec.rules:
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise ConfigError(f"{path}: {attribute_type}/{rule.code}: pattern does not compile: {exc}") from None
            rules.append(AttributeRule(attribute_type, rule.code, rule.pattern, spec.exclusive))
    return rules


@functools.lru_cache(maxsize=4)
def colour_palette(conf_dir: str | None = None) -> dict[str, tuple[int, int, int]]:
    """Paint colour name -> the RGB it is measured against (conf/vocabulary/colours.yaml)."""
    with (conf_root(conf_dir) / "vocabulary" / "colours.yaml").open() as handle:
        return {name: tuple(rgb) for name, rgb in yaml.safe_load(handle)["colours"].items()}
