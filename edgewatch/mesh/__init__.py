"""The mesh's own configuration: Istio ServiceEntry and VirtualService objects, as kubectl prints them.

- :mod:`edgewatch.mesh.objects` parses YAML text into typed objects (pure);
- :mod:`edgewatch.mesh.config` answers, per edge, which ServiceEntry declares its destination and
  which VirtualService timeout and retries apply (pure);
- :mod:`edgewatch.mesh.source` reads ``EDGEWATCH_MESH_CONFIG`` (a file or a folder) and reads it
  again when it changes, keeping the last good config when a change is broken.

docs/mesh-config.md is the user's side of it.
"""
