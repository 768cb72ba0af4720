from pathlib import Path

import pytest

from autolake.lakehouse.settings import PROJECT_ROOT, ConfigError, load_settings


def test_every_shipped_environment_loads():
    envs = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "env").glob("*.yaml"))
    assert {"local", "test", "prod"} <= set(envs)
    for env in envs:
        settings = load_settings(env)
        assert settings.env == env
        assert settings.oem == "mb"


def test_environment_variable_selects_the_overlay(monkeypatch):
    monkeypatch.setenv("AUTOLAKE_ENV", "prod")
    settings = load_settings()
    assert settings.env == "prod"
    assert settings.engine.name == "databricks"
    assert settings.lakehouse.catalog == "autolake"


def test_unknown_key_names_the_key_and_the_file(conf_dir: Path):
    overlay = conf_dir / "env" / "test.yaml"
    overlay.write_text(overlay.read_text() + "engine:\n  nmae: spark\n")
    with pytest.raises(ConfigError) as error:
        load_settings("test", conf_dir=conf_dir)
    message = str(error.value)
    assert "engine.nmae" in message
    assert str(overlay) in message
    assert "unknown key" in message


def test_wrong_type_names_the_key_and_the_file(conf_dir: Path):
    base = conf_dir / "base.yaml"
    text = base.read_text()
    assert "\n  days: 60\n" in text
    base.write_text(text.replace("\n  days: 60\n", "\n  days: seven\n"))
    with pytest.raises(ConfigError) as error:
        load_settings("local", conf_dir=conf_dir)
    message = str(error.value)
    assert "replay.days" in message
    assert str(base) in message


def test_overlay_value_is_blamed_on_the_overlay(conf_dir: Path):
    overlay = conf_dir / "env" / "local.yaml"
    overlay.write_text("engine:\n  name: flink\n")
    with pytest.raises(ConfigError) as error:
        load_settings("local", conf_dir=conf_dir)
    assert "engine.name" in str(error.value)
    assert str(overlay) in str(error.value)


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: .*local.*prod.*test"):
        load_settings("staging")


def test_connect_engine_requires_a_url():
    with pytest.raises(ConfigError, match="connect_url"):
        load_settings("local", overrides={"engine": {"name": "connect"}})


def test_relative_lakehouse_root_resolves_under_the_project():
    settings = load_settings("local")
    assert settings.lakehouse_root == PROJECT_ROOT / "lakehouse"
    assert settings.landing_root == PROJECT_ROOT / "lakehouse" / "landing"


def test_bronze_nesting_limit_defaults_to_32_and_must_be_a_positive_bounded_integer(conf_dir: Path):
    assert load_settings("local").bronze.max_nesting_depth == 32
    assert load_settings("local", overrides={"bronze": {"max_nesting_depth": 8}}).bronze.max_nesting_depth == 8
    for wrong in (0, 257, "deep"):
        with pytest.raises(ConfigError, match="bronze.max_nesting_depth"):
            load_settings("local", overrides={"bronze": {"max_nesting_depth": wrong}})
    base = conf_dir / "base.yaml"
    base.write_text(base.read_text().replace("  max_nesting_depth: 32\n", "  max_nesting_depht: 32\n"))
    with pytest.raises(ConfigError, match="bronze.max_nesting_depht"):
        load_settings("local", conf_dir=conf_dir)
