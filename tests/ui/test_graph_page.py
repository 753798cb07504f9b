"""The graph page in a real headless Chromium against a running Edgewatch: the API app over the
real engine, fed with the simulator's records through Kafka, the real ingester and decoder, and
given the seed mesh config. Seven minutes of steady traffic, then the driver-monitoring outage
(its first 4 minutes, up to now). Screenshots are saved (``artifacts``) to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from alerts.rules import load_rules
from alerts.service import AlertService
from api.app import create_app
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import REPO_ROOT, Settings
from simulator.formats import encoder
from simulator.generate import generate
from simulator.scenarios import load_scenario
from tests.ui.browser import LiveServer

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

EXTERNAL = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"
SERVICE_ENTRY = "fleetman-driver-monitoring"
SEED = REPO_ROOT / "deploy" / "mesh" / "fleetman.yaml"
FAILING_RGB = "rgb(204,0,0)"
HEALTHY_RGB = "rgb(63,156,53)"


def wait_for(driver: WebDriver, script: str, timeout: float = 30) -> Any:
    """Polls ``return <script>`` until it is truthy; returns its value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(f"return {script}"))


def edge_js(what: str) -> str:
    """JS: ``what`` of the drawn edge staff-service -> the external host (null until it is drawn)."""
    return (f"(() => {{ const e = window.edgewatch && window.edgewatch.view.cy.edges().filter("
            f"x => x.data('stats') && x.data('stats').destination === '{EXTERNAL}' && "
            f"x.data('stats').source === 'staff-service'); return e.nonempty() ? {what} : null; }})()")


@pytest.fixture
def outage(ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
           ingest: Callable[[Settings], Any]) -> datetime:
    """Stores the story; returns the outage scenario's start (steady traffic before it)."""
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=4)
    steady, scenario = load_scenario("steady"), load_scenario("driver-monitoring-outage")
    encode = encoder("native", scenario.base)
    # Seed 4: among its steady calls to the external host, none fails (the healthy topology fails a
    # few in ten thousand; one in these ~750 would be past the 0.1% of "degraded"). Deterministic.
    reports = [*generate(steady, start - timedelta(minutes=7), start, rate=40, seed=4),
               *generate(scenario, start, now, rate=40, seed=2)]
    lines = [encode(r) for r in reports]
    settings = make_settings()
    publish(settings, [b"\n".join(lines[i:i + 500]) for i in range(0, len(lines), 500)])
    ingest(settings)
    assert ch.command("SELECT count() FROM dead_letters") == 0
    # The demo's rules, evaluated 15 s apart as the service does: the external edge's alert fires
    # as the root cause, its callers' alerts as its symptoms.
    service = AlertService(settings, ch, rules=load_rules(REPO_ROOT / "alerts" / "rules-demo.yaml"),
                           mesh=MeshConfigSource(SEED))
    for back in (45, 30, 15):
        service.evaluate_once(now - timedelta(seconds=back))
    return start


@pytest.fixture
def served(ch: Client, outage: datetime) -> Iterator[LiveServer]:
    server = LiveServer(create_app(Settings.model_validate({}), ch, mesh=MeshConfigSource(SEED)))
    yield server
    server.stop()


def test_the_outage_edge_is_red_opens_its_panel_and_is_green_before(
        browser: WebDriver, served: LiveServer, outage: datetime, artifacts: Path) -> None:
    browser.get(f"{served.url}/?window=5m")
    assert wait_for(browser, edge_js("e.style('line-color')")) == FAILING_RGB
    node = browser.execute_script(
        f"const n = window.edgewatch.view.cy.nodes().filter(x => x.data('name') === '{EXTERNAL}'); "
        "return {shape: n.style('shape'), label: n.data('label'), kind: n.data('kind')}")
    assert node == {"shape": "diamond", "label": f"{SERVICE_ENTRY}\n{EXTERNAL}", "kind": "external"}
    assert browser.execute_script("return window.edgewatch.view.cy.nodes(':parent').map(n => n.data('label'))")
    # Its firing alert marks it as the root cause; the callers it takes down are marked apart.
    assert wait_for(browser, edge_js("e.classes().filter(c => c !== 'large').sort()")) == ["alert", "root-cause"]
    symptoms = browser.execute_script(
        "return window.edgewatch.view.cy.edges('.symptom').map(e => e.data('stats').source).sort()")
    assert "api-gateway" in symptoms and "webapp" in symptoms, symptoms
    browser.save_screenshot(str(artifacts / "1-outage.png"))

    # A refresh updates in place: no layout, no node moved.
    positions = "return window.edgewatch.view.cy.nodes().map(n => [n.id(), n.position('x'), n.position('y')])"
    before, refreshes = browser.execute_script(positions), browser.execute_script("return window.edgewatch.refreshes")
    browser.execute_async_script("window.edgewatch.refresh().then(arguments[arguments.length - 1])")
    assert browser.execute_script("return window.edgewatch.refreshes") > refreshes
    assert browser.execute_script("return window.edgewatch.view.layouts") == 1
    assert browser.execute_script(positions) == before

    # Click the edge where it is drawn: the panel opens with its charts and failing requests.
    x, y = wait_for(browser, edge_js("[e.renderedMidpoint().x, e.renderedMidpoint().y]"))
    canvas = browser.find_element(By.ID, "cy")
    width, height = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]",
                                           canvas)
    ActionChains(browser).move_to_element_with_offset(canvas, int(x - width / 2), int(y - height / 2)).click().perform()
    wait_for(browser, "document.querySelector('#panel-calls table.calls')")
    panel = browser.find_element(By.ID, "panel")
    assert panel.is_displayed()
    assert f"staff-service → {EXTERNAL}" in panel.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#panel-charts .chart svg path")) >= 4
    rows = browser.find_elements(By.CSS_SELECTOR, "#panel-calls table.calls tr")[1:]
    assert rows and all("504" in r.text and "UT" in r.text for r in rows), [r.text for r in rows]
    assert SERVICE_ENTRY in panel.text and "1.00 s" in panel.text  # its ServiceEntry and VirtualService timeout
    alert = browser.find_element(By.CSS_SELECTOR, "#panel-alerts .alert").text
    assert "FIRING" in alert and "root cause" in alert and "Affected callers" in alert and "api-gateway" in alert, alert
    assert "edge=" in browser.current_url  # the selection is in the URL: a link opens the same view
    browser.save_screenshot(str(artifacts / "2-panel.png"))

    # Silence the edge's first alert from the panel: the API holds the silence.
    browser.find_element(By.CSS_SELECTOR, "#panel-alerts .silence-open").click()
    browser.find_element(By.CSS_SELECTOR, "#panel-alerts form.silence button[type=submit]").click()
    wait_for(browser, "document.querySelector('#panel-alerts form.silence .result')"
                      ".textContent.includes('silenced until')")
    silences = httpx.get(f"{served.url}/api/v1/silences").json()["silences"]
    assert [(x["source"], x["destination"], x["created_by"]) for x in silences] == [
        ("staff-service", EXTERNAL, "graph page")]

    # The label switch, the name search, the traffic dots and the SVG export.
    browser.execute_script("const s = document.getElementById('labels'); s.value = 'latency';"
                           "s.dispatchEvent(new Event('change'))")
    assert wait_for(browser, edge_js("e.data('label')")).startswith("p95 ")
    assert "labels=latency" in browser.current_url
    browser.find_element(By.ID, "search").send_keys("driver")
    faded = browser.execute_script("return window.edgewatch.view.cy.nodes('.faded').map(n => n.data('name'))")
    assert "webapp" in faded and EXTERNAL not in faded
    browser.find_element(By.ID, "animate").click()
    # Dots are drawn on a canvas covering the whole graph, some of them along the external edge.
    assert wait_for(browser, "(() => { const c = document.getElementById('traffic'), cy = window.edgewatch.view.cy;"
                             "return c.width === Math.round(cy.width()) && c.height === Math.round(cy.height()); })()")
    assert wait_for(browser, edge_js(
        "(() => { const c = document.getElementById('traffic'); const z = e.cy().zoom(), p = e.cy().pan();"
        "const a = e.sourceEndpoint(), b = e.targetEndpoint();"
        "const x1 = Math.min(a.x, b.x) * z + p.x - 8, y1 = Math.min(a.y, b.y) * z + p.y - 8;"
        "const x2 = Math.max(a.x, b.x) * z + p.x + 8, y2 = Math.max(a.y, b.y) * z + p.y + 8;"
        "const d = c.getContext('2d').getImageData(x1, y1, x2 - x1, y2 - y1).data;"
        "for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; })()"))
    svg = browser.execute_script("return window.edgewatch.view.svg()")
    assert svg.startswith("<svg") and SERVICE_ENTRY in svg
    browser.save_screenshot(str(artifacts / "2b-search-latency-traffic.png"))

    # Replay a window before the outage: green, and visibly not live.
    end = (outage - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    browser.get(f"{served.url}/?window=5m&end={end}")
    assert wait_for(browser, edge_js("e.style('line-color')")) == HEALTHY_RGB
    banner = browser.find_element(By.ID, "banner")
    assert banner.is_displayed() and "Not live" in banner.text
    assert browser.find_element(By.ID, "live-state").text == "not live"
    browser.save_screenshot(str(artifacts / "3-replay.png"))

    # A deep link by names (as a Slack message would give) opens the panel on the failing edge.
    browser.get(f"{served.url}/?window=5m&source=staff-service&destination={EXTERNAL}")
    wait_for(browser, "document.querySelector('#panel h2[data-edge]')")
    assert f"staff-service → {EXTERNAL}" in browser.find_element(By.CSS_SELECTOR, "#panel h2").text

    # A node's panel: its inbound and outbound edges.
    browser.get(f"{served.url}/?window=5m&node=workload:default/staff-service")
    wait_for(browser, "document.querySelector('#panel h2[data-node]')")
    inbound, outbound = (e.text for e in browser.find_elements(By.CSS_SELECTOR, "#panel ul.edge-list"))
    assert "api-gateway → fleetman-staff-service" in inbound and EXTERNAL in outbound and "failing" in outbound
    calls_in = browser.execute_script("return [...document.querySelectorAll('#panel dt')]"
                                      ".find(dt => dt.textContent === 'requests in').nextElementSibling.textContent")
    assert int(calls_in) > 0  # its calls come through its Service
    browser.save_screenshot(str(artifacts / "3b-node.png"))


def test_token_and_unreachable_api_messages(browser: WebDriver, ch: Client, artifacts: Path) -> None:
    server = LiveServer(create_app(Settings.model_validate({"api_token": "s3cret"}), ch))
    try:
        browser.get(f"{server.url}/ui")
        wait_for(browser, "!document.getElementById('token-form').hidden")
        assert "needs its API token" in browser.find_element(By.ID, "banner").text
        browser.find_element(By.ID, "token").send_keys("wrong\n")
        wait_for(browser, "document.getElementById('banner').textContent.includes('refused this token')")
        browser.save_screenshot(str(artifacts / "4-wrong-token.png"))
        browser.find_element(By.ID, "token").send_keys("s3cret\n")
        wait_for(browser, "document.getElementById('banner').className === 'empty'")
        assert "No traffic in the 5m window" in browser.find_element(By.ID, "banner").text
        assert browser.find_element(By.ID, "token-form").is_displayed() is False
    finally:
        server.stop()
    wait_for(browser, "document.getElementById('banner').textContent.includes('does not answer')", timeout=20)
    assert "Retrying every 5 s" in browser.find_element(By.ID, "banner").text
    browser.save_screenshot(str(artifacts / "5-unreachable.png"))
    browser.execute_script("sessionStorage.clear()")
