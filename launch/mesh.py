"""The mesh's own config for a process: read at start, where a broken file stops it."""

from __future__ import annotations

from edgewatch.mesh.objects import MeshConfigError
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import Settings
from launch.lifecycle import StartError


def open_mesh_config(settings: Settings) -> MeshConfigSource:
    """``EDGEWATCH_MESH_CONFIG`` read once (none when unset); raises StartError naming the file and
    the problem. Later changes are read by the source itself, keeping the last good config."""
    try:
        return MeshConfigSource(settings.mesh_config)
    except MeshConfigError as error:
        raise StartError(f"EDGEWATCH_MESH_CONFIG: {error}. Fix the file, or unset the variable to run "
                         "without the mesh's config") from error
