"""Which referenced objects are watched, and what one watch's events and reads mean."""

from __future__ import annotations

from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.plan.reference_watches import ObjectVersion, WatchPlan, plan_watches
from turbine_operator.core.render.references import ReaderIndex, SourceKind

SECRET, CONFIG_MAP = SourceKind.SECRET, SourceKind.CONFIG_MAP


def _spec(*secrets: str, config_map: str | None = None) -> TurbineStackSpec:
    parameters = [
        {"name": f"P{index}", "secretKeyRef": {"name": name, "key": "k"}}
        for index, name in enumerate(secrets)
    ]
    template = (
        {"configMapKeyRef": {"name": config_map, "key": "t"}} if config_map else {"inline": "Resources: {}"}
    )
    raw = {
        "templateBucket": {"name": "bucket"},
        "additionalTemplates": [{"name": "Extra", "template": template, "parametersFrom": parameters}],
    }
    return parse_spec(raw, namespace="team", name="a", default_region="eu-west-1")


def test_the_watches_are_the_objects_some_turbinestack_reads_one_each_however_many_read_it() -> None:
    index = ReaderIndex()
    index.record("uid-a", "team", "a", _spec("token", config_map="extras"))
    index.record("uid-b", "team", "b", _spec("token"))
    index.record("uid-c", "other", "c", _spec("token"))

    assert index.watched() == {
        ("team", SECRET, "token"),
        ("team", CONFIG_MAP, "extras"),
        ("other", SECRET, "token"),
    }
    assert plan_watches(index.watched(), frozenset()) == WatchPlan(start=index.watched(), stop=frozenset())


def test_a_turbinestack_that_stops_reading_a_secret_stops_its_watch_unless_another_reads_it() -> None:
    index = ReaderIndex()
    index.record("uid-a", "team", "a", _spec("token", "password"))
    index.record("uid-b", "team", "b", _spec("password"))
    running = index.watched()

    index.record("uid-a", "team", "a", _spec())  # a's spec no longer reads either Secret

    assert plan_watches(index.watched(), running) == WatchPlan(
        start=frozenset(), stop=frozenset({("team", SECRET, "token")})
    )
    index.forget("uid-b")
    assert plan_watches(index.watched(), running).stop == running


def test_an_invalid_spec_reads_and_watches_nothing() -> None:
    index = ReaderIndex()
    index.record("uid-a", "team", "a", _spec("token"))
    index.record("uid-a", "team", "a", None)

    assert index.watched() == frozenset()


def test_only_a_new_version_is_a_change_and_bookmarks_only_move_the_resume_point() -> None:
    version = ObjectVersion("10")

    assert not version.event("BOOKMARK", "15")
    assert (version.seen, version.resume_from) == ("10", "15")
    assert version.event("MODIFIED", "16")
    assert not version.event("MODIFIED", "16")  # the same version again (a resumed watch)
    assert version.event("DELETED", "17")
    assert (version.seen, version.resume_from) == (None, "17")
    assert version.event("ADDED", "18")


def test_an_absent_object_watched_from_now_is_a_change_only_once_it_exists() -> None:
    version = ObjectVersion(None)

    assert version.resume_from is None  # from now: the API server opens with an ADDED of an existing object
    assert version.event("ADDED", "20")
    assert not version.event("ADDED", "20")


def test_an_expired_watch_reads_again_and_reconciles_only_if_the_version_moved() -> None:
    version = ObjectVersion("10")
    version.event("BOOKMARK", "12")

    version.lost()  # 410 Gone
    assert version.must_read
    assert not version.read("10")
    assert (version.must_read, version.resume_from) == (False, "10")

    version.lost()
    assert version.read("30")  # changed while nobody watched
    version.lost()
    assert version.read(None)  # deleted while nobody watched
    assert version.resume_from is None


def test_a_watch_whose_first_read_failed_reads_first_and_counts_the_answer_as_a_change() -> None:
    """A TurbineStack may have read an older version meanwhile: a reconcile too many beats a missed one."""
    version = ObjectVersion.unknown()

    assert version.must_read
    assert version.read("10")
    assert not version.read("10")
