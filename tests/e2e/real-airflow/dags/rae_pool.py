"""Real-Airflow e2e DAG: two tasks in the non-default pool `rae_pool` (1 slot), one after the other
(in sequence, so that a healthy run never starves the pool)."""
from __future__ import annotations

import datetime as dt

try:  # Airflow 3.x
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.bash import BashOperator


with DAG(
    dag_id="rae.pool-user.v1",
    start_date=dt.datetime(2024, 1, 1),
    schedule="1-59/2 * * * *",  # odd minutes
    catchup=False,
    max_active_runs=1,
    tags=["real-airflow-e2e"],
) as dag:
    a = BashOperator(task_id="pooled.task-a", bash_command="sleep 3", pool="rae_pool")
    b = BashOperator(task_id="pooled.task-b", bash_command="sleep 3", pool="rae_pool")
    a >> b
