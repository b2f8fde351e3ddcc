"""From a parsed spec to the desired stack: templates as data, the user's additions, the bundle uploaded to
S3 and what the spec reads from outside its manifest."""
