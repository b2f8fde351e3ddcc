"""What a reconcile does inside Airflow once the stack is handled: users, the DAG source's git connection and
the scheduler's report on the DAG bundle."""
