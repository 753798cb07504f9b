#!/usr/bin/env bash
# Refreshes web/vendor/ from the npm registry: the graph page's libraries at the exact versions
# below, their built files and their licences. The page loads only these files (never a CDN);
# they are committed, so neither the API nor its tests need npm. To upgrade: change a version,
# run `bash scripts/vendor-web.sh`, run the browser tests (tests/ui/), commit web/vendor/.
set -euo pipefail

CYTOSCAPE=3.35.0        # MIT: rendering, pan/zoom, compound namespace boxes, PNG export
CYTOSCAPE_DAGRE=4.0.1   # MIT: the dagre layout for small graphs; its build bundles the two below
DAGRE=3.0.0             # MIT: bundled in cytoscape-dagre's build (its licence ships with it)
GRAPHLIB=4.0.1          # MIT: bundled in cytoscape-dagre's build (its licence ships with it)

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/web/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null || { echo "npm is needed (Node.js's package manager)"; exit 1; }

cd "$work"
take() {  # take NAME VERSION: unpack the registry's tarball of NAME@VERSION into $work/NAME
    local dir="$work/${1//\//_}"
    mkdir -p "$dir"
    tar xzf "$(npm pack --silent "$1@$2" | tail -1)" -C "$dir" --strip-components=1
    echo "$1@$2 $(npm view "$1@$2" dist.integrity)" >>"$work/VERSIONS"
}
take cytoscape "$CYTOSCAPE"
take cytoscape-dagre "$CYTOSCAPE_DAGRE"
take @dagrejs/dagre "$DAGRE"
take @dagrejs/graphlib "$GRAPHLIB"

rm -rf "$out" && mkdir -p "$out"
cp "$work/cytoscape/dist/cytoscape.min.js" "$out/"
cp "$work/cytoscape/LICENSE" "$out/LICENSE.cytoscape"
cp "$work/cytoscape-dagre/dist/cytoscape-dagre.min.js" "$out/"
cp "$work/cytoscape-dagre/LICENSE" "$out/LICENSE.cytoscape-dagre"
cp "$work/@dagrejs_dagre/LICENSE" "$out/LICENSE.dagre"
cp "$work/@dagrejs_graphlib/LICENSE" "$out/LICENSE.graphlib"
{
    echo "# web/vendor: written by scripts/vendor-web.sh from the npm registry (name@version integrity)."
    cat "$work/VERSIONS"
} >"$out/VERSIONS"
echo "web/vendor refreshed:"
sed 1d "$out/VERSIONS"
