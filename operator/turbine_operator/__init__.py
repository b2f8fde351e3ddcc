"""Turbine Operator: reconciles TurbineStack resources into Apache Airflow on AWS CloudFormation."""

__version__ = "0.1.0"
