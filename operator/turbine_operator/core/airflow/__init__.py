"""What the operator keeps inside Airflow: its users, the DAG source's git connection and the scheduler's
report on the DAG bundle."""
