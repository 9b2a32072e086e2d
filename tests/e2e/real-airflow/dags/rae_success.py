"""Real-Airflow e2e DAG: quick tasks that succeed; dotted and dashed dag and task ids."""
from __future__ import annotations

import datetime as dt

try:  # Airflow 3.x
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import PythonOperator


def _compute(**_):
    return sum(range(1000))


with DAG(
    dag_id="rae.success-flow_v1",
    start_date=dt.datetime(2024, 1, 1),
    schedule="*/2 * * * *",  # even minutes (the DAGs take turns: 2.x runs tasks inside the scheduler loop)
    catchup=False,
    max_active_runs=1,
    tags=["real-airflow-e2e"],
) as dag:
    extract = BashOperator(task_id="extract.part-1", bash_command="echo extract")
    compute = PythonOperator(task_id="compute_sum-v2", python_callable=_compute)
    extract >> compute
