"""Where moto's SQS accepts what AWS refuses and the stack depends on it. Dev and test only: loaded by
`turbine_dev.aws.moto_server` (and the rehearsal's embedded AWS), never by the product.

- A queue's VisibilityTimeout is an integer from 0 to 43,200 seconds (12 hours); CreateQueue and
  SetQueueAttributes refuse anything else with InvalidAttributeValue, "Invalid value for the parameter
  VisibilityTimeout." ("CreateQueue",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html; "Amazon SQS
  visibility timeout": the maximum is 12 hours). moto stores any value. The broker queue uses the
  maximum (turbine-cluster.yaml), and the cluster-load function's handling of dead tasks rests on it:
  a message whose worker died stays in flight that long.
- A queue's name is at most 80 characters ("CreateQueue", QueueName: "up to 80 characters"); a longer
  QueueName in a template fails the queue, where moto's CloudFormation cuts it to 80 and creates a queue
  of another name than the template's. (A name CloudFormation generates is kept within 80 by
  turbine_dev.aws.moto_resource_names.)
"""

from __future__ import annotations

from typing import Any

from moto.sqs import models
from moto.sqs.exceptions import InvalidAttributeValue, InvalidParameterValue

MAXIMUM_VISIBILITY_TIMEOUT = 43200
LONGEST_QUEUE_NAME = 80


def install() -> None:
    """Idempotent."""
    queue: Any = models.Queue
    if getattr(queue, "_turbine_sqs", False):
        return
    queue._turbine_sqs = True
    original = queue._set_attributes

    def _set_attributes(self: Any, attributes: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if "VisibilityTimeout" in attributes:
            try:
                seconds = int(attributes["VisibilityTimeout"])
            except (TypeError, ValueError):
                raise InvalidAttributeValue("VisibilityTimeout") from None
            if not 0 <= seconds <= MAXIMUM_VISIBILITY_TIMEOUT:
                raise InvalidAttributeValue("VisibilityTimeout")
        original(self, attributes, *args, **kwargs)

    queue._set_attributes = _set_attributes
    create = queue.create_from_cloudformation_json

    def create_from_cloudformation_json(
        resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        if len(str(resource_name)) > LONGEST_QUEUE_NAME:
            # SQS's own words for a name it refuses (moto's Queue.name setter says the same).
            raise InvalidParameterValue(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        return create(resource_name, cloudformation_json, account_id, region_name, **kwargs)

    queue.create_from_cloudformation_json = create_from_cloudformation_json
