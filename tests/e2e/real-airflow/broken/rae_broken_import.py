"""Real-Airflow e2e: a DAG file that cannot be imported (scenario 4 copies it into the DAG folder).

It mentions airflow and DAG so that Airflow's safe-mode heuristic parses it."""
from __future__ import annotations

import rae_module_that_does_not_exist  # noqa: F401  -- the import error under test

from airflow import DAG  # noqa: E402,F401
