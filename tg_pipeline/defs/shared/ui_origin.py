"""Runs made outside the webserver, shown in the UI like the ones it launched itself.

``execute_in_process`` records a run without saying which code location it belongs to, so
the UI lists it under no job page and links it to ``/guess/<job>``. The UI started by
``make dev`` (``dagster dev -m tg_pipeline.definitions``) serves the code location named
after the module, with the one ``Definitions`` as repository ``__repository__``; stamping a
run with that origin files it under the real job, on the Overview timeline and the asset
pages. Dagster offers no public call for this; its run storage has one for migrating run
history, which is what this uses.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from tg_pipeline.defs.names import DEFINITIONS_MODULE, REPOSITORY_NAME

if TYPE_CHECKING:
    import dagster as dg


def attach_ui_origin(
    instance: dg.DagsterInstance, run_id: str, module: str = DEFINITIONS_MODULE
) -> bool:
    """Record ``run_id`` as a run of ``module``'s code location; False if it cannot be."""
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    run = instance.get_run_by_id(run_id)
    if run is None or run.remote_job_origin is not None:
        return False
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable, module_name=module, working_directory=os.getcwd()
        ),
        location_name=module,
    )
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=location, repository_name=REPOSITORY_NAME
        ),
        job_name=run.job_name,
    )
    # The tag row must exist for the storage to update it along with the run's body.
    instance.add_run_tags(run_id, {REPOSITORY_LABEL_TAG: origin.repository_origin.get_label()})
    run = instance.get_run_by_id(run_id)
    assert run is not None
    instance.run_storage.replace_job_origin(run, origin)
    return True
