"""web/js/layout.js in the browser: the layered layout in lanes of large graphs, and placing the
nodes a refresh brings without moving the others. Only the page's files are served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from api.app import create_app
from edgewatch.settings import Settings
from tests.ui.browser import LiveServer


@pytest.fixture(scope="module")
def files() -> Iterator[LiveServer]:
    server = LiveServer(create_app(Settings.model_validate({}), object()))  # type: ignore[arg-type]
    yield server
    server.stop()


def run(browser: WebDriver, files: LiveServer, body: str) -> Any:
    """``body`` with the layout module as ``m``; returns what it returns."""
    if not browser.current_url.startswith(files.url):
        browser.get(f"{files.url}/ui/vendor/VERSIONS")
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"import('/ui/js/layout.js').then((m) => done((() => {{ {body} }})())).catch((e) => done(String(e)));")


def test_columns_follow_the_calls_and_cycles_do_not_loop(browser: WebDriver, files: LiveServer) -> None:
    ranks = run(browser, files, """
        const nodes = ['a', 'b', 'c', 'd'].map((id) => ({id}));
        const links = [{source: 'a', target: 'b'}, {source: 'b', target: 'c'}, {source: 'a', target: 'c'},
                       {source: 'c', target: 'a'}, {source: 'd', target: 'c'}];
        return Object.fromEntries(m.ranks(nodes, links));""")
    assert ranks == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_lanes_never_overlap_and_every_node_has_its_own_place(browser: WebDriver, files: LiveServer) -> None:
    result = run(browser, files, """
        const nodes = [], links = [];
        for (let i = 0; i < 300; i++) nodes.push({id: 'n' + i, lane: 'ns-' + (i % 7)});
        for (let i = 0; i < 900; i++) {
          const a = (i * 37) % 250, b = a + 1 + (i % 49);
          if (b < 300) links.push({source: 'n' + a, target: 'n' + b});
        }
        const t = performance.now();
        const p = m.lanesLayout(nodes, links, [...new Set(nodes.map((n) => n.lane))].sort());
        return {ms: performance.now() - t, p, nodes, links};""")
    positions, nodes = result["p"], result["nodes"]
    assert result["ms"] < 500
    spots = {(p["x"], p["y"]) for p in positions.values()}
    assert len(spots) == len(nodes)  # no two nodes on one spot
    bands = {}
    for node in nodes:
        y = positions[node["id"]]["y"]
        low, high = bands.get(node["lane"], (y, y))
        bands[node["lane"]] = (min(low, y), max(high, y))
    ordered = sorted(bands.values())
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False))  # lanes are bands apart
    assert all(positions[link["source"]]["x"] < positions[link["target"]]["x"] for link in result["links"])


def test_a_new_node_goes_beside_its_caller_and_nothing_moves(browser: WebDriver, files: LiveServer) -> None:
    placed = run(browser, files, """
        const known = new Map([['a', {x: 0, y: 0}], ['b', {x: 230, y: 0}]]);
        const before = JSON.stringify([...known]);
        const fresh = m.placeNew([{id: 'c', lane: 'x'}], [{source: 'a', target: 'c'}], known, (id) => 'x');
        return {fresh, unchanged: JSON.stringify([...known]) === before};""")
    assert placed["unchanged"]
    assert placed["fresh"]["c"]["x"] == 230 and placed["fresh"]["c"]["y"] != 0  # beside b, not on it
