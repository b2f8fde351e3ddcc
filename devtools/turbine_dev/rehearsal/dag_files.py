"""The DAGs the rehearsal deploys, as the files a user would put in a CodeDeploy revision.

Kept as text: they import Airflow, which only the instances have.
"""

MARKER = "TURBINE-REHEARSAL-MARKER"
# Where the rehearsal puts its CodeDeploy revision of DAG_FILES in the deployments bucket.
REVISION_KEY = "rehearsal/dags.zip"
# The burst (turbine_dev.rehearsal.burst): short tasks, all queued by one run.
BURST_TASKS = 40
BURST_TASK_SECONDS = 30

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
    # The burst: BURST_TASKS tasks queued at once by one run (mapped: one task, expanded as the run starts).
    "rehearsal_burst.py": f"""\
import time

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def rehearsal_burst():
    @task
    def short(index):
        time.sleep({BURST_TASK_SECONDS})

    short.expand(index=list(range({BURST_TASKS})))


rehearsal_burst()
""",
}
