"""``python -m tg_pipeline.deploy HOME``: create the instance directory ``make dev`` serves."""

import sys
from pathlib import Path

from tg_pipeline.deploy import ensure_local_instance

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tg_pipeline.deploy DAGSTER_HOME")
    ensure_local_instance(Path(sys.argv[1]))
