"""The DAGs the rehearsal deploys, as the files a user would put in a CodeDeploy revision.

Kept as text: they import Airflow, which only the instances have.
"""

MARKER = "TURBINE-REHEARSAL-MARKER"

DAG_FILES = {
    # A Celery task that prints a marker the rehearsal looks for in its remote log.
    "rehearsal_celery.py": f"""\
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def rehearsal_celery():
    @task
    def hello():
        print("{MARKER}")

    hello()


rehearsal_celery()
""",
    # A deferrable sensor: it completes only if the triggerer fires its trigger.
    "rehearsal_deferrable.py": """\
import datetime

import pendulum
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG

with DAG("rehearsal_deferrable", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    TimeDeltaSensor(task_id="wait", delta=datetime.timedelta(seconds=10), deferrable=True)
""",
    # A 60 s task that a draining worker must finish.
    "rehearsal_long.py": """\
import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("rehearsal_long", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    BashOperator(task_id="sleep", bash_command="sleep 60")
""",
}
