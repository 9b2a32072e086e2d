"""Real-Airflow e2e DAG: a sensor that pokes twice, then a downstream task; and a task that
defers to the triggerer for 5 s.

Poke mode, short: on Airflow 3.3.2 under load a reschedule-mode sensor with a 5 s poke interval
was re-queued before the executor reported its previous try, and the scheduler then failed it
as "killed externally" (which AirflowZombieTasks rightly reports); and 2.x's SequentialExecutor
runs every task inside the scheduler loop, so a long poke stops the scheduler's heartbeat.
See docs/real-airflow-e2e.md."""
from __future__ import annotations

import datetime as dt

try:  # Airflow 3.x
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.sensors.python import PythonSensor
    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.models.baseoperator import BaseOperator
    from airflow.operators.bash import BashOperator
    from airflow.sensors.python import PythonSensor
    from airflow.triggers.temporal import TimeDeltaTrigger


class DeferForSeconds(BaseOperator):
    """Defers to the triggerer for `seconds`, then completes."""

    def __init__(self, seconds: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(dt.timedelta(seconds=self.seconds)), method_name="done")

    def done(self, context, event=None):
        return "done"


_pokes = {"n": 0}


def _true_on_second_poke(**_):
    # poke mode keeps one process for all pokes: false once, then true (~3 s of poking)
    _pokes["n"] += 1
    return _pokes["n"] >= 2


with DAG(
    dag_id="rae.sensor-wait_dag",
    start_date=dt.datetime(2024, 1, 1),
    schedule="2-59/4 * * * *",  # minutes 2, 6, 10, ...
    catchup=False,
    max_active_runs=1,
    tags=["real-airflow-e2e"],
) as dag:
    sensor = PythonSensor(
        task_id="wait.for-second_poke",
        python_callable=_true_on_second_poke,
        mode="poke",
        poke_interval=3,
        timeout=120,
    )
    after = BashOperator(task_id="after.sensor-done", bash_command="echo sensed")
    sensor >> after
    DeferForSeconds(task_id="deferred.wait-5s", seconds=5)
