"""A Celery task that prints a marker the rehearsal looks for in its remote log."""

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def rehearsal_celery() -> None:
    @task
    def hello() -> None:
        print("TURBINE-REHEARSAL-MARKER")

    hello()


rehearsal_celery()
