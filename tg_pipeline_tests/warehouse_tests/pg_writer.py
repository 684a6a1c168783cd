"""A writer process for the PostgreSQL crash test: ingests one large dump into the
warehouse at ``argv[1]`` (``argv[2]`` rows), as a run would, until it is killed."""

from __future__ import annotations

import sys

from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row


def main() -> None:
    url, rows = sys.argv[1], int(sys.argv[2])
    with PgWarehouse.open(url) as warehouse:
        warehouse.ingest(
            batches((json_row(i, chat_id=4004, chat_name="Big") for i in range(1, rows + 1)), 5000),
            dump=dump("big"),
        )


if __name__ == "__main__":
    main()
