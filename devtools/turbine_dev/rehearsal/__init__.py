"""Boot rehearsal: every Turbine instance role booted on this machine with real Airflow.

Each role runs in its own mount and network namespace, chrooted into a copy-on-write overlay of
this machine's root (the stand-in for the AMI), with its own user data from the stack created in
the embedded AWS. What the instance's operating system would provide (systemd, cloud-init,
cfn-signal, the instance metadata service, dnf, the EFS mount helper) is stood in for by
`turbine_dev.rehearsal`; the product's scripts and units run unedited. See
`python -m turbine_dev.rehearsal --help`.
"""
