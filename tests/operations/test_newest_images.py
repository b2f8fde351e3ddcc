"""The newest AMI is read once per region and hour, not at every look at a stack in review."""

from __future__ import annotations

from turbine_operator.operations.fleet.images import NewestImages


class Source:
    def __init__(self, region: str) -> None:
        self.region = region
        self.reads = 0

    def latest_image_id(self) -> str:
        self.reads += 1
        return f"ami-{self.region}-{self.reads}"


def test_the_newest_image_is_read_once_per_region_and_hour() -> None:
    now = [0.0]
    images = NewestImages(seconds=3600.0, clock=lambda: now[0])
    ireland, ohio = Source("eu-west-1"), Source("us-east-2")
    assert [images.newest(ireland) for _ in range(100)] == ["ami-eu-west-1-1"] * 100
    assert images.newest(ohio) == "ami-us-east-2-1"
    now[0] = 3599.0
    assert images.newest(ireland) == "ami-eu-west-1-1"
    now[0] = 3600.0
    assert images.newest(ireland) == "ami-eu-west-1-2"
    assert (ireland.reads, ohio.reads) == (2, 1)
