"""Real-Airflow e2e DAG: a task that fails on every try, after one retry."""
from __future__ import annotations

import datetime as dt

try:  # Airflow 3.x
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.python import PythonOperator


def _always_fail(ti=None, **_):
    raise RuntimeError(f"real-airflow e2e: fails on purpose (try {getattr(ti, 'try_number', '?')})")


with DAG(
    dag_id="rae_fail-retry.v1",
    start_date=dt.datetime(2024, 1, 1),
    schedule="1-59/4 * * * *",  # minutes 1, 5, 9, ...
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=10)},
    tags=["real-airflow-e2e"],
) as dag:
    PythonOperator(task_id="always.fails-after_retry", python_callable=_always_fail)
