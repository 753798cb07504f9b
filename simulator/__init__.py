"""A simulated service mesh: request records as the calling and the called proxies report them.

- ``topology``: the mesh as a data file (services, versions, external hosts, edges with
  fan-out, long-tailed latencies, status codes, Envoy failures and timeouts);
- ``scenarios``: named stories told in phases over that topology (an outage, a canary...);
- ``generate``: pure: scenario, seed and time window -> reports in timestamp order;
- ``formats``: a report as an Edgewatch record or as an Istio/Envoy access-log line (with the
  writing pod's metadata, or wrapped as Fluent Bit sends it);
- ``pods``: the pods the workloads run as (names, addresses, Fluent Bit's ``kubernetes`` object);
- ``publish``: NDJSON messages of many records to Kafka;
- ``run``: real-time (or faster) publishing and the ``edgewatch simulate`` command.

docs/topology.md explains how to write a topology of your own.
"""
