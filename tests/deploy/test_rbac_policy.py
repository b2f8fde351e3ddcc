"""The operator's RBAC grants exactly what it uses: no wildcard, nothing beyond an explicit allow-list.

Whether these rules are also enough is shown by running the operator with them (test_rbac_runtime.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from .support import MANIFESTS, Document, find, one, render

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)

# What `turbine-operator run --all-namespaces` does with the Kubernetes API (kopf included).
CLUSTER_WIDE_ALLOWED: frozenset[Rule] = frozenset(
    {
        # kopf: list + watch to serve them, patch for the finalizer, progress and diff-base annotations;
        # get for `kubectl auth can-i`-style checks and troubleshooting (the brief's minimum set).
        ("turbine.dev", "turbinestacks", "get"),
        ("turbine.dev", "turbinestacks", "list"),
        ("turbine.dev", "turbinestacks", "watch"),
        ("turbine.dev", "turbinestacks", "patch"),
        ("turbine.dev", "turbinestacks/status", "patch"),
        # The outputs ConfigMap's ownerReference sets blockOwnerDeletion, which the
        # OwnerReferencesPermissionEnforcement admission plugin allows only with this right.
        ("turbine.dev", "turbinestacks/finalizers", "update"),
        # Referenced ConfigMaps are read and watched; the outputs ConfigMap is also written and deleted.
        ("", "configmaps", "get"),
        ("", "configmaps", "list"),
        ("", "configmaps", "watch"),
        ("", "configmaps", "create"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "delete"),
        # Referenced Secrets are read and watched by name; nothing lists them.
        ("", "secrets", "get"),
        ("", "secrets", "watch"),
        ("", "events", "create"),
    }
)
# The namespaced variant: the same rights, per namespace; kopf's scanning is off, so nothing cluster-scoped.
NAMESPACED_ALLOWED: frozenset[Rule] = CLUSTER_WIDE_ALLOWED


def granted(role: Document) -> set[Rule]:
    rules: set[Rule] = set()
    for rule in role.get("rules", []):
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    rules.add((group, resource, verb))
    return rules


def wildcards(rules: Iterable[Rule]) -> list[Rule]:
    return [rule for rule in rules if any("*" in part for part in rule)]


@pytest.fixture(scope="module")
def base() -> list[Document]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def namespaced() -> list[Document]:
    return render(MANIFESTS / "namespaced")


def test_cluster_role_grants_no_wildcard_and_nothing_beyond_the_allow_list(base: list[Document]) -> None:
    role = one(base, "ClusterRole", "turbine-operator")
    rules = granted(role)
    assert wildcards(rules) == []
    assert "aggregationRule" not in role
    assert sorted(rules - CLUSTER_WIDE_ALLOWED) == []
    # Nothing in the allow-list is unused by the manifests either: the list documents the role.
    assert rules == CLUSTER_WIDE_ALLOWED


def test_base_has_exactly_one_cluster_role_bound_to_the_operator_only(base: list[Document]) -> None:
    assert [doc["metadata"]["name"] for doc in find(base, "ClusterRole")] == ["turbine-operator"]
    assert find(base, "Role") == []
    assert find(base, "RoleBinding") == []
    binding = one(base, "ClusterRoleBinding", "turbine-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "turbine-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "turbine-operator", "namespace": "turbine-system"}
    ]


def test_namespaced_variant_grants_no_wildcard_and_nothing_beyond_the_allow_lists(
    namespaced: list[Document],
) -> None:
    assert find(namespaced, "ClusterRole", "turbine-operator") == []
    assert find(namespaced, "ClusterRoleBinding", "turbine-operator") == []
    role = one(namespaced, "Role", "turbine-operator")
    rules = granted(role)
    assert wildcards(rules) == []
    assert rules == NAMESPACED_ALLOWED
    assert find(namespaced, "ClusterRole") == []


def test_the_checks_catch_a_wildcard_and_an_extra_right() -> None:
    """The checks above would fail on the usual mistakes."""
    widened: Document = {"rules": [{"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["get"]}]}
    assert wildcards(granted(widened)) == [("*", "secrets", "get")]
    extra: Document = {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]}]}
    assert granted(extra) - CLUSTER_WIDE_ALLOWED == {("", "secrets", "patch")}
