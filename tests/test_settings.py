import shutil
from pathlib import Path

import pytest

from autolake.lakehouse.settings import PROJECT_ROOT, ConfigError, load_all, load_settings


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
    assert settings.landing_root == PROJECT_ROOT / "lakehouse" / "landing" / "mb"


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


def test_an_oem_is_its_folder_and_an_unknown_one_lists_the_known(conf_dir: Path):
    settings = load_settings("test", conf_dir=conf_dir)
    assert settings.oem == "mb" and settings.oem_dir == conf_dir / "oems" / "mb"
    assert settings.wmi_file == conf_dir / "oems" / "mb" / "reference" / "wmi.csv"
    assert {s.make for s in settings.searches} == {settings.make}
    with pytest.raises(ConfigError, match=r"no configuration for OEM 'vw' \(known: bmw, mb\)"):
        load_settings("test", oem="vw", conf_dir=conf_dir)


def test_a_search_for_another_make_is_refused_naming_it(conf_dir: Path):
    (conf_dir / "oems" / "mb" / "sources" / "bmw_x5.yaml").write_text("name: bmw_x5\nsite: craigslist\nmake: BMW\n")
    with pytest.raises(ConfigError, match=r"searches \['bmw_x5'\] are not for Mercedes-Benz, the make of OEM mb"):
        load_settings("test", conf_dir=conf_dir)


def test_a_new_oem_folder_loads_with_its_own_paths_and_overlay(conf_dir: Path):
    shutil.copytree(conf_dir / "oems" / "mb", conf_dir / "oems" / "smart")
    oem = conf_dir / "oems" / "smart"
    (oem / "oem.yaml").write_text((oem / "oem.yaml").read_text().replace("make: Mercedes-Benz", "make: smart"))
    for search in (oem / "sources").glob("*.yaml"):
        search.unlink()
    (oem / "sources" / "smart_all.yaml").write_text("name: smart_all\nsite: craigslist\nmake: smart\n")
    (oem / "env" / "test.yaml").write_text("replay:\n  days: 5\n")
    oems = {s.oem: s for s in load_all("test", conf_dir=conf_dir)}
    assert sorted(oems) == ["bmw", "mb", "smart"]
    smart, mb = oems["smart"], oems["mb"]
    assert (smart.oem, smart.make, [s.name for s in smart.searches]) == ("smart", "smart", ["smart_all"])
    assert (smart.replay.days, mb.replay.days) == (5, 2)
    assert smart.lakehouse_root == mb.lakehouse_root
    for path in ("landing_root", "exports_dir", "replay_truth_dir", "oem_dir"):
        assert getattr(smart, path) != getattr(mb, path), path
        assert smart.oem in getattr(smart, path).parts and mb.oem in getattr(mb, path).parts, path


@pytest.mark.parametrize("name", ["../env", "mb/../../conf", "/etc", "MB", "mb\x00"])
def test_an_oem_name_that_is_not_a_plain_folder_name_is_refused_before_any_file_is_read(conf_dir: Path, name):
    (conf_dir / "env" / "oem.yaml").write_text("make: planted\n")
    with pytest.raises(ConfigError, match="an OEM name is a folder of"):
        load_settings("test", oem=name, conf_dir=conf_dir)
