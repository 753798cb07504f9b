"""Grafana's JSON datasource protocol (the simPod plugin, v0.6+), served under ``/grafana``.

``protocol`` (the request bodies), ``catalogue`` (the metrics and their payload fields),
``selection`` (payload and ad-hoc filters -> edges), ``spans`` (Grafana's range -> what is read),
``answers``/``query`` (the answers to ``/query``), ``legacy`` (the retired simple-json targets),
``options`` (payload options, variables, ad-hoc filter keys and values), ``frames`` (the shapes
of the answers). The routes are ``api/routes/grafana.py``; docs/grafana.md shows the protocol.
"""
