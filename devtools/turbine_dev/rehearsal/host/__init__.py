"""One rehearsal instance and what an EC2 host gives it: the image, the launch, metadata, systemd, the
network and the operating system's commands."""
