"""A 60 s task that a draining worker must finish."""

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("rehearsal_long", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):
    BashOperator(task_id="sleep", bash_command="sleep 60")
