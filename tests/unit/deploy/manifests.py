"""Reading the production descriptions (deploy/compose, deploy/k8s) and the checks the tests run
on them: pure functions over parsed documents, each returning the list of problems it found, so
a test can also show that a deliberately wrong document is caught."""

from __future__ import annotations

import gzip
import json
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose"
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = ROOT / "tests" / "deploy_schemas"
CITYOPS_IMAGE = "registry.example/cityops"

# Settings another change adds at the same time (CONTRACT §9): named by the brief, not yet in
# cityops/settings.py on this branch. Drop a name here once settings.py has it.
PENDING_SETTINGS: set[str] = set()


def yaml_files() -> list[Path]:
    return sorted([*COMPOSE.rglob("*.yaml"), *K8S.rglob("*.yaml")])


def k8s_manifests() -> list[Path]:
    """The files `kubectl apply -k deploy/k8s` applies (everything but the kustomization)."""
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[dict]:
    docs = []
    for path in k8s_manifests():
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def compose_document() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose env file (comments and blank lines skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def topics_file(path: Path) -> dict[str, dict]:
    """deploy/compose/kafka/topics: {name: {partitions, replicas, config}}."""
    topics = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, partitions, replicas, configs = line.split()
            config = dict(p.split("=", 1) for p in configs.split(",")) if configs != "-" else {}
            topics[name] = {
                "partitions": int(partitions),
                "replicas": int(replicas),
                "config": config,
            }
    return topics


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


# -- settings ----------------------------------------------------------------------------------


def setting_names() -> set[str]:
    """Every environment variable cityops reads: CITYOPS_ + a field of Settings (settings.py)."""
    from cityops.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def unknown_settings(names: set[str]) -> set[str]:
    return {n for n in names if n not in setting_names() | PENDING_SETTINGS}


# -- images ------------------------------------------------------------------------------------

_EXACT_TAG = re.compile(r":v?\d+\.\d+\.\d+[\w.+-]*$")


def unpinned(image: str) -> bool:
    """Neither a digest nor an exact version tag (x.y.z…): `latest`, `24.8`, no tag. A compose
    variable `${NAME:-default}` is judged by its default (`${NAME}` alone is unpinned)."""
    variable = re.fullmatch(r"\$\{\w+:-(.+)\}", image)
    if variable:
        image = variable.group(1)
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return False
    return not _EXACT_TAG.search(image) or image.endswith(":latest")


def images(node: Any) -> Iterator[str]:
    """Every value of an `image` key, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from images(value)
    elif isinstance(node, list):
        for item in node:
            yield from images(item)


# -- Kubernetes objects ---------------------------------------------------------------------------


def pod_spec(doc: dict) -> dict | None:
    spec = doc.get("spec", {})
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
        return spec["template"]["spec"]
    if doc.get("kind") == "Job":
        return spec["template"]["spec"]
    return None


def cityops_containers(docs: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(workload, container) for every container of the cityops image, init containers too."""
    for doc in docs:
        pod = pod_spec(doc)
        if pod is None:
            continue
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            if container["image"].split(":")[0] == CITYOPS_IMAGE:
                yield doc, container


def container_env(container: dict, config_maps: dict[str, dict]) -> dict[str, str | None]:
    """Names (and literal values) a container gets: its env and the ConfigMaps it loads."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


# -- schemas -------------------------------------------------------------------------------------


def compose_problems(doc: dict) -> list[str]:
    """Against the compose specification's schema (tests/deploy_schemas/compose-spec.json)."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


@cache
def _crd_schemas() -> dict[str, dict]:
    return json.loads(gzip.decompress((SCHEMAS / "crds.json.gz").read_bytes()))


def strict(schema: Any) -> Any:
    """A CRD's openAPIV3Schema with unknown fields refused (the API server would drop them
    silently: a misspelt field is then simply ignored)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_problems(doc: dict) -> list[str] | None:
    """Problems of a custom resource against its operator's CRD; None when no CRD is vendored."""
    group_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    entry = _crd_schemas().get(f"{group_version}/{kind}")
    if entry is None:
        return None
    schema = strict(entry["schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    validator = jsonschema.Draft4Validator(schema)
    return [f"{kind} {list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


def core_problems(doc: dict, version: str = "1.33.0") -> list[str]:
    """Built-in kinds against Kubernetes' own schemas, strict (package kubernetes-validate)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{doc.get('kind')} {list(exc.path)}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{doc.get('apiVersion')} {doc.get('kind')}: no schema (not a Kubernetes kind?)"]
    return []


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_k8s_name(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


# -- ACLs --------------------------------------------------------------------------------------


def acl_rules_of_script(dry_run_output: str) -> set[tuple]:
    """(principal, resource type, name, pattern, operation) of each rule `kafka-acls.sh --dry-run`
    prints."""
    rules = set()
    for line in dry_run_output.splitlines():
        argv = shlex.split(line)
        principal = argv[argv.index("--allow-principal") + 1].removeprefix("User:")
        ops = [argv[i + 1] for i, a in enumerate(argv) if a == "--operation"]
        if "--cluster" in argv:
            resource = ("cluster", "kafka-cluster", "literal")
        else:
            kind = "topic" if "--topic" in argv else "group"
            name = argv[argv.index(f"--{kind}") + 1]
            pattern = "prefix" if "prefixed" in argv else "literal"
            resource = (kind, name, pattern)
        rules |= {(principal, *resource, op) for op in ops}
    return rules


def acl_rules_of_users(users: list[dict]) -> set[tuple]:
    rules = set()
    for user in users:
        for acl in user["spec"]["authorization"]["acls"]:
            r = acl["resource"]
            name = r.get("name", "kafka-cluster")
            resource = (r["type"], name, r.get("patternType", "literal"))
            rules |= {(user["metadata"]["name"], *resource, op) for op in acl["operations"]}
    return rules


# -- probes --------------------------------------------------------------------------------------


def healthcheck_url(test: list[str]) -> str | None:
    """The URL a compose healthcheck of the cityops image opens (python -c "…urlopen('URL'…)")."""
    found = re.search(r"urlopen\('([^']+)'", " ".join(test))
    return found.group(1) if found else None
