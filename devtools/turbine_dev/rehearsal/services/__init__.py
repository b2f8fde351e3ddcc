"""The services around the rehearsal's instances: the embedded AWS, the load balancers and their health
checks, the database and the private git server."""
