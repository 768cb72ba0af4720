"""Run bronze for one day and SIGKILL the process (client and embedded Sail server) mid-write.

    python -m tests.crash_runner LAKEHOUSE DAY POINT

POINT: `during-listings` (killed 20 ms into the first write of the published bronze.listings),
`after-listings` or `after-quarantine` (killed right after that published table's commit). The
published tables are written when the staged batch publishes, after its gate passed.
Exit code 3 means the kill point was never reached.
"""

import datetime as dt
import os
import signal
import sys
import threading
import time
from pathlib import Path

from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import STAGING_FOLDER, Tables
from autolake.layers import bronze


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(lakehouse: str, day: str, point: str) -> int:
    settings = load_settings("test", overrides={"lakehouse": {"root": lakehouse}, "replay": {"version": "v0", "records_per_file": 10}})
    save = Tables._save

    def crashing_save(self, writer, location):
        published = STAGING_FOLDER not in Path(location).parts
        name = Path(location).name
        if published and point == f"during-{name}":
            threading.Timer(0.02, kill_now).start()
            save(self, writer, location)
            time.sleep(30)
        save(self, writer, location)
        if published and point == f"after-{name}":
            kill_now()

    Tables._save = crashing_save
    handle = start_engine(settings.engine)
    bronze.run(handle.spark, settings, dt.date.fromisoformat(day))
    handle.stop()
    return 3


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
