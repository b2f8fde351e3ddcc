"""A deferrable sensor: it completes only if the triggerer fires its trigger."""

import datetime

import pendulum
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG

with DAG(
    "rehearsal_deferrable", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False
):
    TimeDeltaSensor(task_id="wait", delta=datetime.timedelta(seconds=10), deferrable=True)
