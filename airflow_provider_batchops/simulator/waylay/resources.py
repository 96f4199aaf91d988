"""Waylay resources service: resources, resource types and the bulk delete API (``/resources/v1/batch``).

A resource may have a ``parentId`` and may reference other resources with ``{"$ref": "/resources/<id>"}``
attribute values. Deleting a resource that is still a parent of, or referenced by, another resource
fails, unless those resources are deleted first in the same batch (children are processed before
their parents). A resource type still used by a resource cannot be deleted. Every index is a dict of
sets, so a batch of many thousands of ids finishes in linear time.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..http import iso_time
from .batch import Batch, BatchKind, ItemResult, SpecError, batch_routes

if TYPE_CHECKING:
    from . import WaylayState

JsonDict = dict[str, Any]

ENTITIES = ("resource", "resourcetype")
CASCADE = ("alarms", "measurements", "tasks")
REF_PREFIX = "/resources/"
_KINDS = ("pump", "meter", "door", "boiler", "chiller")
#: Seeded resource types: one for sites, one per device kind and one that no resource uses.
SEED_TYPES = {"rt-site": "Site", **{f"rt-{k}": k.title() for k in _KINDS}, "rt-retired": "Retired model"}


@dataclass(frozen=True)
class DeleteSpec:
    """A validated bulk delete."""

    entity: str
    ids: list[str]
    cascade: tuple[str, ...] = ()


def _check_ids(query: object) -> list[str]:
    if not isinstance(query, dict):
        raise SpecError("/query", "expected an object with ids")
    for key in query:
        if key != "ids":
            raise SpecError(f"/query/{key}", "unknown field, only ids is supported")
    ids = query.get("ids")
    if not isinstance(ids, list):
        raise SpecError("/query/ids", "required array of ids")
    if not ids:
        raise SpecError("/query/ids", "must contain at least 1 id")
    for index, item in enumerate(ids):
        if not isinstance(item, str) or not item:
            raise SpecError(f"/query/ids/{index}", "expected a non-empty string")
    return list(dict.fromkeys(ids))


def _check_cascade(params: object) -> tuple[str, ...]:
    if not isinstance(params, dict):
        raise SpecError("/actionParameters", "expected an object with cascade")
    for key in params:
        if key != "cascade":
            raise SpecError(f"/actionParameters/{key}", "unknown field, only cascade is supported")
    cascade = params.get("cascade")
    if not isinstance(cascade, list):
        raise SpecError("/actionParameters/cascade", f"required array of {', '.join(CASCADE)}")
    for index, value in enumerate(cascade):
        if value not in CASCADE:
            raise SpecError(f"/actionParameters/cascade/{index}", f"invalid value {value}, use {', '.join(CASCADE)}")
    return tuple(dict.fromkeys(cascade))


def parse_delete_spec(body: object) -> DeleteSpec:
    """Validate a ``BatchResourceOperation`` body; raise :class:`SpecError` naming the bad field."""
    if not isinstance(body, dict):
        raise SpecError("/", "expected a JSON object with entity, action and query")
    entity, action = body.get("entity"), body.get("action")
    if entity not in ENTITIES:
        raise SpecError("/entity", f"invalid entity: {entity}, use {' or '.join(ENTITIES)}")
    if entity == "resource" and action == "patchOrInsert":
        raise SpecError("/action", "patchOrInsert is not supported by the simulator")
    if action != "delete":
        raise SpecError("/action", f"invalid action for {entity} entity: {action}")
    for key in body:
        if key not in ("entity", "action", "query", "actionParameters"):
            raise SpecError(f"/{key}", "unknown field")
    if "query" not in body:
        raise SpecError("/query", "missing required field")
    ids = _check_ids(body["query"])
    if "actionParameters" not in body:
        return DeleteSpec(entity=str(entity), ids=ids)
    if entity == "resourcetype":
        raise SpecError("/actionParameters", "not allowed for resourcetype entity")
    return DeleteSpec(entity="resource", ids=ids, cascade=_check_cascade(body["actionParameters"]))


def references(resource: JsonDict) -> set[str]:
    """Ids of the resources that ``resource`` points to: its parent and ``$ref`` attribute values."""
    found: set[str] = set()
    parent = resource.get("parentId")
    if isinstance(parent, str):
        found.add(parent)
    for value in resource.values():
        for item in value if isinstance(value, list) else [value]:
            ref = item.get("$ref") if isinstance(item, dict) else None
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.add(ref[len(REF_PREFIX):])
    found.discard(str(resource.get("id")))
    return found


def seed_resources(seed: int, count: int) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]:
    """Deterministic resource types and ``count`` resources: sites, and devices often below a site."""
    rng = random.Random(f"{seed}-resources")
    types = {type_id: {"id": type_id, "name": name} for type_id, name in SEED_TYPES.items()}
    resources: dict[str, JsonDict] = {}
    sites = [f"site-{i + 1:03d}" for i in range(count // 20 if count >= 20 else min(count, 1))]
    for number, site in enumerate(sites, start=1):
        resources[site] = {"id": site, "name": f"Site {number}", "resourceTypeId": "rt-site"}
    devices: list[str] = []
    for index in range(count - len(sites)):
        kind, number = _KINDS[index % len(_KINDS)], index // len(_KINDS) + 1
        device: JsonDict = {"id": f"{kind}-{number:04d}", "name": f"{kind.title()} {number}"}
        device["resourceTypeId"] = f"rt-{kind}"
        if sites and rng.random() < 0.6:
            device["parentId"] = rng.choice(sites)
        if devices and rng.random() < 0.05:
            device["connectedTo"] = {"$ref": REF_PREFIX + rng.choice(devices)}
        devices.append(device["id"])
        resources[device["id"]] = device
    return types, resources


class ResourceStore:
    """Resources and resource types, with reverse indexes for the delete checks."""

    def __init__(self) -> None:
        self.resources: dict[str, JsonDict] = {}
        self.types: dict[str, JsonDict] = {}
        self._referrers: dict[str, set[str]] = {}  # resource id -> ids of resources pointing to it
        self._type_users: dict[str, set[str]] = {}  # resource type id -> ids of its resources

    def load(self, types: dict[str, JsonDict], resources: dict[str, JsonDict]) -> None:
        """Replace everything."""
        self.types, self.resources = dict(types), {}
        self._referrers.clear()
        self._type_users.clear()
        self.put_resources(resources.values())

    def put_resources(self, items: Iterable[JsonDict]) -> None:
        """Insert or replace resources by id."""
        for item in items:
            resource = {"name": item["id"], **item}
            self.remove(resource["id"])
            self.resources[resource["id"]] = resource
            for target in references(resource):
                self._referrers.setdefault(target, set()).add(resource["id"])
            type_id = resource.get("resourceTypeId")
            if isinstance(type_id, str):
                self._type_users.setdefault(type_id, set()).add(resource["id"])

    def put_types(self, items: Iterable[JsonDict]) -> None:
        """Insert or replace resource types by id."""
        for item in items:
            self.types[item["id"]] = {"name": item["id"], **item}

    def remove(self, resource_id: str) -> None:
        """Delete a resource (if present) and its index entries."""
        resource = self.resources.pop(resource_id, None)
        if resource is None:
            return
        for target in references(resource):
            self._referrers.get(target, set()).discard(resource_id)
        type_id = resource.get("resourceTypeId")
        if isinstance(type_id, str):
            self._type_users.get(type_id, set()).discard(resource_id)

    def referrers(self, resource_id: str) -> set[str]:
        """Existing resources that have ``resource_id`` as parent or reference it."""
        return self._referrers.get(resource_id, set())

    def type_users(self, type_id: str) -> set[str]:
        """Existing resources of resource type ``type_id``."""
        return self._type_users.get(type_id, set())

    def deletion_order(self, ids: list[str]) -> list[str]:
        """``ids`` with every resource after the resources of the batch that point to it (Kahn's algorithm)."""
        wanted = set(ids)
        waiting_on: dict[str, int] = {}
        unblocks: dict[str, list[str]] = {}
        for resource_id in ids:
            blockers = [r for r in self.referrers(resource_id) if r in wanted and r != resource_id]
            waiting_on[resource_id] = len(blockers)
            for blocker in blockers:
                unblocks.setdefault(blocker, []).append(resource_id)
        ready = deque(r for r in ids if waiting_on[r] == 0)
        order: list[str] = []
        while ready:
            resource_id = ready.popleft()
            order.append(resource_id)
            for follower in unblocks.get(resource_id, ()):
                waiting_on[follower] -= 1
                if waiting_on[follower] == 0:
                    ready.append(follower)
        if len(order) < len(ids):  # reference cycles: left in their original order, they will fail
            placed = set(order)
            order.extend(r for r in ids if r not in placed)
        return order


class ResourcesService:
    """The resources of the emulated tenant and their bulk deletes."""

    def __init__(self, tenant: WaylayState) -> None:
        self._tenant = tenant
        self.store = ResourceStore()
        self.kind = BatchKind(service="resources", stamp=iso_time, apply=self._apply_item, order=self._order)

    def reseed(self) -> None:
        """Regenerate the seeded resources and types and forget the resources batches."""
        tenant = self._tenant
        with tenant.lock:
            self.store.load(*seed_resources(tenant.config.seed, tenant.config.resources))
            tenant.batches.clear(self.kind.service)

    def put(self, entity: str, items: list[JsonDict], replace: bool = False) -> int:
        """Insert or replace resources (``entity="resource"``) or types; return the store size."""
        with self._tenant.lock:
            if entity == "resource":
                if replace:
                    self.store.load(self.store.types, {})
                self.store.put_resources(items)
                return len(self.store.resources)
            if replace:
                self.store.types.clear()
            self.store.put_types(items)
            return len(self.store.types)

    def items(self, entity: str) -> list[JsonDict]:
        """Copies of the current resources or resource types."""
        self._tenant.batches.settle()
        with self._tenant.lock:
            items = self.store.resources if entity == "resource" else self.store.types
            return [dict(item) for item in items.values()]

    def start_batch(self, spec: DeleteSpec) -> Batch:
        """Queue a bulk delete."""
        noun = "resources" if spec.entity == "resource" else "resource types"
        params = {"cascade": list(spec.cascade)} if spec.cascade else None
        return self._tenant.batches.start(
            self.kind,
            user=self._tenant.user_id,
            entity=spec.entity,
            action="delete",
            description=f"deleting {len(spec.ids)} {noun}",
            item_ids=spec.ids,
            params=params,
        )

    def get_batch(self, batch_id: str) -> Batch | None:
        """The bulk delete with ``batch_id`` (finished if due), or ``None``."""
        return self._tenant.batches.get(self.kind, batch_id)

    def _order(self, batch: Batch) -> list[str]:
        return self.store.deletion_order(batch.item_ids) if batch.entity == "resource" else batch.item_ids

    def _apply_item(self, batch: Batch, item_id: str, at: float) -> ItemResult:
        store = self.store
        if batch.entity == "resourcetype":
            if item_id not in store.types:
                return 404, f"Resource type {item_id} not found"
            users = len(store.type_users(item_id))
            if users:
                return 400, f"Resource type is still used by {users} resource(s)"
            del store.types[item_id]
            return 204, None
        resource = store.resources.get(item_id)
        if resource is None:
            return 404, f"Resource {item_id} not found"
        fail = resource.get("fail")
        if isinstance(fail, dict):
            return int(fail.get("statusCode", 500)), str(fail.get("error", "Resource is locked"))
        blockers = len(store.referrers(item_id))
        if blockers:
            return 400, f"Resource is still parent of or referenced by {blockers} resource(s)"
        store.remove(item_id)
        if batch.params and "tasks" in batch.params["cascade"]:
            if "tasks" not in batch.context:
                batch.context["tasks"] = self._tenant.rules.tasks_by_resource()
            for task_id in batch.context["tasks"].get(item_id, ()):
                self._tenant.rules.tasks.pop(task_id, None)
        return 204, None


router = batch_routes(
    "/resources/v1/batch",
    lambda waylay: waylay.resources,
    parse_delete_spec,
    "Operation with id '{batch_id}' not found",
    "bulk delete of resources or resource types",
)
