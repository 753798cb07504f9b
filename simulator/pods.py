"""The pods a topology's workloads run as, as Kubernetes and Fluent Bit describe them.

One pod per workload, derived from the workload's name alone, so the same topology always
gives the same pods: a name ``<workload>-<pod-template-hash>-<suffix>`` as a Deployment's
ReplicaSet names its pods, an IP in the pod network, and the ``kubernetes`` object that Fluent
Bit's Kubernetes filter adds to every line the pod's ``istio-proxy`` container writes. Its
labels are those of an Istio-injected pod: the Service's selector ``app``, ``version``,
``pod-template-hash``, ``security.istio.io/tlsMode`` and the canonical service name and
revision that injection derives from ``app`` and ``version``.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.topology import Service, Topology, Workload

NODE = "minikube"
"""The node every pod runs on (the course's single-node cluster)."""
PROXY_IMAGE = "docker.io/istio/proxyv2:1.24.2"
PROXY_IMAGE_DIGEST = "docker.io/istio/proxyv2@sha256:" + hashlib.sha256(PROXY_IMAGE.encode()).hexdigest()
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters Kubernetes uses for generated name parts (no vowels, no look-alikes)."""


@dataclass(frozen=True)
class Pod:
    """``kubernetes``: Fluent Bit's object for the pod's ``istio-proxy`` lines (shared, never mutate)."""

    name: str
    ip: str
    kubernetes: Mapping[str, Any]


def pods(topology: Topology) -> dict[str, Pod]:
    """Workload name -> its pod, for every workload of ``topology``."""
    return {w.name: pod(w, s) for s in topology.services.values() for w in s.workloads}


def pod(workload: Workload, service: Service) -> Pod:
    """The pod of ``workload``, which runs behind ``service``."""
    digest = hashlib.sha256(workload.name.encode()).digest()
    template_hash = _safe(digest[:10])
    name = f"{workload.name}-{template_hash}-{_safe(digest[10:15])}"
    kubernetes = {
        "pod_name": name,
        "namespace_name": service.namespace,
        "pod_id": str(uuid.UUID(bytes=digest[:16], version=4)),
        "labels": {
            "app": service.app,
            "pod-template-hash": template_hash,
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": service.app,
            "service.istio.io/canonical-revision": workload.version,
            "version": workload.version,
        },
        "annotations": {
            "istio.io/rev": "default",
            "kubectl.kubernetes.io/default-container": service.app,
            "kubectl.kubernetes.io/default-logs-container": service.app,
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
        },
        "host": NODE,
        "container_name": "istio-proxy",
        "docker_id": hashlib.sha256(name.encode()).hexdigest(),
        "container_hash": PROXY_IMAGE_DIGEST,
        "container_image": PROXY_IMAGE,
    }
    return Pod(name, stable_ip(workload.name, "10.244."), kubernetes)


def stable_ip(name: str, prefix: str) -> str:
    """A stable address for ``name`` under a /16 prefix such as ``10.244.``."""
    digest = zlib.crc32(name.encode())
    return f"{prefix}{digest >> 8 & 255}.{digest & 255 or 1}"


def _safe(data: bytes) -> str:
    return "".join(SAFE_ALPHABET[byte % len(SAFE_ALPHABET)] for byte in data)
