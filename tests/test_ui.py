"""The kiosk screen (``edge live --ui``) in a real browser: Debian's Chromium, headless,
driven through Selenium and the Debian chromedriver (tools/system-deps.sh installs both).

A missing browser fails these tests instead of skipping them: CI must run them.
Set ``EDGE_UI_SCREENSHOTS=DIR`` to keep the 800x480 and 1280x800 screenshots (docs/ has them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from edge.events import (
    AudioOut,
    Metrics,
    PartialTranscript,
    StageError,
    StateChanged,
    Transcript,
    Translation,
)
from edge.live import STATES, LiveConfig, LiveController, ModelLoader
from edge.live.events import ControllerSnapshot, LanguagePairChanged
from edge.live.handheld import HandheldChanged
from edge.tts.espeak_tts import EspeakTTS
from edge.ui import EventHub, KioskServer, is_loopback, language_pairs
from edge.ui.hub import CLIENT_QUEUE, CLOSE, Client
from edge.ui.server import start_kiosk

from .conftest import ROOT, SAMPLES, _installed

SIZES = {"800x480": (800, 480), "1280x800": (1280, 800)}


def _wait(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "install chromium and chromium-driver: tools/system-deps.sh"
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,800",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def _console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _kiosk(driver: webdriver.Chrome, expression: str) -> Any:
    return driver.execute_script(f"return {expression};")


def _screenshot(driver: webdriver.Chrome, name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 2000  # something was drawn
    keep = os.environ.get("EDGE_UI_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


class FakeController:
    """Records what the page asks of the controller."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def ptt_down(self) -> None:
        self.calls.append(("down",))

    def ptt_up(self) -> None:
        self.calls.append(("up",))

    def swap_languages(self) -> None:
        self.calls.append(("swap",))

    def set_language_pair(self, source: str, target: str) -> None:
        self.calls.append(("pair", source, target))

    def set_volume(self, level: int) -> None:
        self.calls.append(("volume", level))

    def snapshot(self) -> ControllerSnapshot:
        return ControllerSnapshot("idle", "EN>PT", 80)


@pytest.fixture
def fake() -> Iterator[tuple[FakeController, EventHub, KioskServer]]:
    controller, hub = FakeController(), EventHub()
    hub.configure(mode="ptt", language_pair="EN>PT", pairs=language_pairs("en", "pt"))
    server = KioskServer(controller, hub, "127.0.0.1", 0)
    server.start()
    try:
        yield controller, hub, server
    finally:
        server.stop()


def _open(driver: webdriver.Chrome, url: str, size: str = "1280x800") -> None:
    _viewport(driver, *SIZES[size])
    driver.get("about:blank")  # an earlier test's page stops retrying its server
    driver.get_log("browser")  # and what it logged is forgotten
    driver.get(url)
    _wait(lambda: _kiosk(driver, "window.kiosk && window.kiosk.connected"), what="the socket")


def _conversation(hub: EventHub) -> None:
    hub.publish(Transcript(1, "Good morning.", "eng_Latn", 0.6, 1.5))
    hub.publish(Translation(1, 0, "Bom dia.", "por_Latn", "Good morning.", "eng_Latn"))
    hub.publish(Transcript(2, "Where is the train station?", "eng_Latn", 2.1, 3.9))
    hub.publish(
        Translation(
            2,
            0,
            "Onde fica a estação de comboio?",
            "por_Latn",
            "Where is the train station?",
            "eng_Latn",
        )
    )
    hub.publish(PartialTranscript(3, "I would like to buy", "eng_Latn"))


def test_page_loads_and_drives_the_controller(
    browser: webdriver.Chrome, fake, tmp_path: Path
) -> None:  # noqa: ANN001
    controller, hub, server = fake
    _open(browser, server.url)
    assert _kiosk(browser, "window.kiosk.status.language_pair") == "EN>PT"
    assert browser.find_element(By.ID, "pair").get_attribute("value") == "0"

    _conversation(hub)
    hub.publish(StateChanged("listening", "idle"))
    _wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".near .utterance")) == 3)
    near = browser.find_element(By.CSS_SELECTOR, ".side.near")
    cards = near.find_elements(By.CSS_SELECTOR, ".utterance")
    assert cards[0].find_element(By.CSS_SELECTOR, ".meant").text == "Bom dia."
    partial = cards[2].find_element(By.CSS_SELECTOR, ".said")
    assert "partial" in partial.get_attribute("class")  # grey until the transcript comes
    assert partial.value_of_css_property("font-style") == "italic"
    _wait(lambda: _kiosk(browser, "document.body.dataset.state") == "listening")
    assert near.find_element(By.CSS_SELECTOR, ".state-label").text == "Listening…"

    # The on-screen button: mouse press and release reach the controller, once each.
    button = near.find_element(By.CSS_SELECTOR, ".ptt")
    ActionChains(browser).click_and_hold(button).pause(0.3).release().perform()
    _wait(lambda: ("up",) in controller.calls, what="the release")
    assert controller.calls == [("down",), ("up",)]

    # Touch: a finger held on the button is one press until it lifts.
    box = _kiosk(browser, "document.querySelector('.near .ptt').getBoundingClientRect().toJSON()")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
    point = {"x": x, "y": y}
    browser.execute_cdp_cmd(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]}
    )
    _wait(lambda: len(controller.calls) == 3, what="the touch press")
    assert _kiosk(browser, "window.kiosk.held") is True
    browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    _wait(lambda: len(controller.calls) == 4, what="the touch release")
    assert controller.calls[2:] == [("down",), ("up",)]

    browser.find_element(By.ID, "swap").click()
    _wait(lambda: ("swap",) in controller.calls)
    browser.execute_script(
        "const s = document.getElementById('pair'); s.value = '1';"
        "s.dispatchEvent(new Event('change'));"
    )
    _wait(lambda: controller.calls[-1] == ("pair", "por_Latn", "eng_Latn"))
    hub.publish(LanguagePairChanged("PT>EN"))
    _wait(lambda: _kiosk(browser, "window.kiosk.status.language_pair") == "PT>EN")
    hub.publish(LanguagePairChanged("EN>PT"))
    assert _console_errors(browser) == []

    # A page that goes away while the button is held lets go of the key.
    calls = len(controller.calls)
    ActionChains(browser).click_and_hold(
        browser.find_element(By.CSS_SELECTOR, ".near .ptt")
    ).perform()
    _wait(lambda: controller.calls[calls:] == [("down",)], what="the press")
    browser.get("about:blank")
    _wait(lambda: controller.calls[calls:] == [("down",), ("up",)], what="the let-go")
    ActionChains(browser).release().perform()


def test_face_to_face_turns_the_far_half(browser: webdriver.Chrome, fake, tmp_path: Path) -> None:  # noqa: ANN001
    _controller, hub, server = fake
    _conversation(hub)
    hub.publish(StateChanged("speaking", "idle"))
    for size in SIZES:
        _open(browser, server.url, size)
        _wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".near .utterance")) == 2)
        browser.find_element(By.ID, "f2f").click()
        far = browser.find_element(By.CSS_SELECTOR, ".side.far")
        _wait(far.is_displayed)
        # rotate(180deg) is the matrix (-1, 0, 0, -1): upside down for the near reader
        transform = far.value_of_css_property("transform")
        assert transform.startswith("matrix(-1, "), transform
        # each half leads with its reader's language: Portuguese at the far end
        first_far = far.find_element(By.CSS_SELECTOR, ".utterance .primary").text
        first_near = browser.find_element(By.CSS_SELECTOR, ".near .utterance .primary").text
        assert (first_far, first_near) == ("Bom dia.", "Good morning.")
        # both halves fit the screen, buttons included
        for side in ("near", "far"):
            box = _kiosk(
                browser, f"document.querySelector('.{side} .ptt').getBoundingClientRect().toJSON()"
            )
            assert box["y"] >= 0 and box["y"] + box["height"] <= SIZES[size][1], (side, box)
        assert _console_errors(browser) == []


def test_device_notice_and_reconnect(browser: webdriver.Chrome, tmp_path: Path) -> None:
    controller, hub = FakeController(), EventHub()
    hub.configure(mode="vad", language_pair="EN>PT", pairs=language_pairs("en", "pt"))
    port = _free_port()
    server = KioskServer(controller, hub, "127.0.0.1", port)
    server.start()
    try:
        _open(browser, server.url, "800x480")
        assert browser.find_element(By.CSS_SELECTOR, ".near .ptt-label").text == "Hold to interrupt"
        problem = "the microphone 'USB Audio' stopped delivering audio (unplugged?)"
        hub.publish(StateChanged("error", "idle"))
        hub.publish(StageError("device", f"{problem}; retrying every 1 s"))
        notice = browser.find_element(By.ID, "notice")
        _wait(notice.is_displayed, what="the device notice")
        assert "microphone is disconnected" in notice.text
        hub.publish(StateChanged("idle", "error"))  # it is back: the session resumed
        _wait(lambda: not notice.is_displayed(), what="the notice to go")
        assert _console_errors(browser) == []
        # A page that connects during the fault is told at once.
        hub.publish(StateChanged("error", "idle"))
        hub.publish(StageError("device", "the speaker 'HDMI' stopped delivering audio"))
        browser.refresh()
        _wait(lambda: browser.find_element(By.ID, "notice").is_displayed())
        assert "speaker is disconnected" in browser.find_element(By.ID, "notice").text
    finally:
        server.stop()
    # The engine restarts (systemd): the page notices, then comes back by itself.
    _wait(lambda: not _kiosk(browser, "window.kiosk.connected"), what="the disconnect")
    assert "offline" in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    hub = EventHub()
    hub.configure(mode="ptt", language_pair="EN>PT", pairs=language_pairs("en", "pt"))
    server = KioskServer(controller, hub, "127.0.0.1", port)
    server.start()
    try:
        _wait(lambda: _kiosk(browser, "window.kiosk.connects") >= 2, timeout=10, what="reconnect")
        assert "offline" not in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
        assert not browser.find_element(By.ID, "notice").is_displayed()  # the new hello: no fault
        assert browser.find_element(By.CSS_SELECTOR, ".near .ptt-label").text == "Hold to talk"
    finally:
        server.stop()


def test_handheld_indicator(browser: webdriver.Chrome, fake) -> None:  # noqa: ANN001
    """The bar shows the handheld's notices as they come, and a reloaded page the last one."""
    _controller, hub, server = fake
    _open(browser, server.url, "800x480")
    indicator = browser.find_element(By.ID, "handheld")
    assert not indicator.is_displayed()  # no handheld configured, none reported
    hub.publish(HandheldChanged(True, "/dev/ttyACM0", "edge-handheld firmware 1.2.0"))
    _wait(indicator.is_displayed, 5, "the handheld indicator")
    assert indicator.text == "Handheld: edge-handheld firmware 1.2.0"
    assert indicator.get_attribute("data-state") == "attached"
    assert "/dev/ttyACM0" in indicator.get_attribute("title")
    # on one line in the bar, clear of the buttons, on the 7" panel
    bar = _kiosk(browser, "document.getElementById('bar').getBoundingClientRect().toJSON()")
    box = _kiosk(browser, "document.getElementById('handheld').getBoundingClientRect().toJSON()")
    f2f = _kiosk(browser, "document.getElementById('f2f').getBoundingClientRect().toJSON()")
    assert box["height"] < bar["height"] and box["right"] <= f2f["left"], (box, f2f)
    assert f2f["right"] <= 800, f2f
    hub.publish(HandheldChanged(False, "/dev/ttyACM0", "no reply for 3 s"))
    _wait(lambda: indicator.get_attribute("data-state") == "detached", 5, "the unplugged state")
    assert indicator.text == "Handheld unplugged: use the screen"
    assert "no reply for 3 s" in indicator.get_attribute("title")
    browser.refresh()  # a page that connects later is told by hello
    _wait(lambda: _kiosk(browser, "window.kiosk.connected"), what="the socket")
    indicator = browser.find_element(By.ID, "handheld")
    assert indicator.get_attribute("data-state") == "detached" and indicator.is_displayed()
    assert _console_errors(browser) == []


@pytest.fixture(scope="module")
def en_pt(moonshine_dir: Path, store) -> Callable[[str, str], Any]:  # noqa: ANN001
    """Moonshine tiny, Bergamot en->pt, espeak-ng: the fastest real en->pt cascade."""
    mt = _installed(store, "bergamot-en-pt-tiny")
    config = LiveConfig(source="en", target="pt", asr=str(moonshine_dir), mt=str(mt), threads=1)
    stages = ModelLoader(config).stages("en", "pt")
    stages.tts = EspeakTTS.load("por_Latn")  # no Piper voice for Portuguese in the demo set
    return lambda _source, _target: stages


def test_live_session_on_the_kiosk_screen(
    browser: webdriver.Chrome,
    en_pt: Callable[[str, str], Any],
    tmp_path: Path,
) -> None:
    """A file-as-device push-to-talk session, the presses made with the on-screen button:
    the page shows the transcript and its translation, and the state the controller is in."""
    script = tmp_path / "presses.txt"
    script.write_text("# none: the kiosk screen's button presses\n", encoding="utf-8")
    config = LiveConfig(
        source="en",
        target="pt",
        mode="ptt",
        input=str(SAMPLES / "en_station.flac"),
        output=str(tmp_path / "out.wav"),
        ptt_script=str(script),
        speed=2.0,
        threads=1,
        ui=True,
        ui_port=_free_port(),
    )
    hub = EventHub()
    seen: list[str] = []
    started = threading.Event()

    def on_event(event: Any) -> None:
        seen.append(event.state if isinstance(event, StateChanged) else event.name)
        if event.name == "session_start":
            started.set()

    controller = LiveController(config, en_pt, on_event=hub.tee(on_event))
    server = start_kiosk(controller, hub, config)
    try:
        _open(browser, server.url, "1280x800")
        assert browser.find_element(By.CSS_SELECTOR, ".near .ptt-label").text == "Hold to talk"
        session = threading.Thread(target=controller.run, daemon=True)
        session.start()
        assert started.wait(10), "the session did not start"
        button = browser.find_element(By.CSS_SELECTOR, ".near .ptt")
        # en_station.flac is 7.1 s (speech from 0.6 to 6.5 s); at twice real time
        ActionChains(browser).click_and_hold(button).perform()
        _wait(lambda: _kiosk(browser, "document.body.dataset.state") == "listening", 3)
        time.sleep(3.1)
        ActionChains(browser).release().perform()
        _wait(lambda: "transcript" in seen, 20, "the transcript")
        session.join(30)
        assert not session.is_alive(), "the session did not end with its input"
        said = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".near .utterance .said"), 5)[
            0
        ].text
        assert "train station" in said.lower() and "lisbon" in said.lower(), said
        meant = browser.find_element(By.CSS_SELECTOR, ".near .utterance .meant").text
        assert "estação" in meant.lower() and "lisboa" in meant.lower(), meant
        # the page saw every state the controller went through (the ring follows them)
        changes = sum(s in STATES for s in seen)
        shown = "window.kiosk.events.filter(e => e === 'state').length"
        _wait(lambda: _kiosk(browser, shown) == changes, 5, f"{changes} state changes")
        assert {"listening", "thinking", "speaking"} <= set(seen), seen
        assert _kiosk(browser, "document.body.dataset.state") == "idle"
        assert _console_errors(browser) == []
        _screenshot(browser, "kiosk-1280x800", tmp_path)
        _viewport(browser, *SIZES["800x480"])
        _screenshot(browser, "kiosk-800x480", tmp_path)
        browser.find_element(By.ID, "f2f").click()
        _screenshot(browser, "kiosk-face-to-face-800x480", tmp_path)
        browser.find_element(By.ID, "f2f").click()
    finally:
        controller.stop()
        server.stop()


def test_ui_settings_flags_and_toml(tmp_path: Path) -> None:
    from edge.live.config import SECTIONS, load_config

    assert SECTIONS["ui"] == {"enabled": "ui", "port": "ui_port", "host": "ui_host"}
    toml = tmp_path / "live.toml"
    toml.write_text('from = "en"\nto = "pt"\n[ui]\nenabled = true\nport = 9000\n')
    config = load_config(toml)
    assert (config.ui, config.ui_port, config.ui_host) == (True, 9000, "127.0.0.1")
    out = subprocess.run(
        [sys.executable, "-m", "edge", "live", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "--ui " in out and "--ui-port PORT" in out and "--ui-host HOST" in out
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")


def test_open_to_the_network_warns_once(capsys: pytest.CaptureFixture[str]) -> None:
    config = LiveConfig(source="en", target="pt", ui=True, ui_host="0.0.0.0", ui_port=_free_port())
    controller = FakeController()
    server = start_kiosk(controller, EventHub(), config)
    try:
        err = capsys.readouterr().err
        warnings = [line for line in err.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "open to the network" in warnings[0]
    finally:
        server.stop()


def test_hub_never_blocks_and_drops_a_stuck_page() -> None:
    """Events from the session's threads: audio left out, numpy values as JSON numbers, and a
    page whose queue is full is closed (it reconnects and catches up from hello)."""
    loop = asyncio.new_event_loop()
    try:
        hub, client = EventHub(), Client(loop)
        hello = json.loads(hub.register(client))
        assert hello["event"] == "hello" and hello["history"] == []
        hub.publish(AudioOut(1, 0, 16000, np.zeros(160, np.float32)))
        metrics = Metrics(1.0, 1.0, 1, {"asr": np.float32(1.5)}, {}, [])
        hub.publish(metrics)
        hub.publish(Transcript(1, "Hello.", "eng_Latn", 0.0, 1.0))
        loop.run_until_complete(asyncio.sleep(0))
        sent = [json.loads(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
        assert [m["event"] for m in sent] == ["metrics", "transcript"]
        assert sent[0]["stage_ms"] == {"asr": 1.5} and sent[1]["lang_code"] == "EN"
        for i in range(CLIENT_QUEUE + 1):
            hub.publish(PartialTranscript(2, f"word {i}", "eng_Latn"))
        loop.run_until_complete(asyncio.sleep(0))
        assert client.queue.qsize() == 1 and client.queue.get_nowait() is CLOSE
        later = json.loads(hub.register(Client(loop)))
        assert [m["event"] for m in later["history"]] == ["transcript"]
    finally:
        loop.close()


def test_hub_keeps_the_handheld_state() -> None:
    """``HandheldChanged`` reaches the pages as ``handheld``; ``hello`` carries the last one
    (none without a handheld; looking for it once ``start_kiosk`` knows of a ``--bridge``)."""
    loop = asyncio.new_event_loop()
    try:
        hub, client = EventHub(), Client(loop)
        assert json.loads(hub.register(client))["handheld"] is None
        hub.publish(HandheldChanged(True, "2e8a:000a", "edge-handheld firmware 1.2.0"))
        attached = {"attached": True, "port": "2e8a:000a", "detail": "edge-handheld firmware 1.2.0"}
        assert json.loads(hub.register(Client(loop)))["handheld"] == attached
        hub.publish(HandheldChanged(False, "2e8a:000a", "unplugged"))
        loop.run_until_complete(asyncio.sleep(0))
        sent = [json.loads(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
        assert [(m["event"], m["attached"]) for m in sent] == [
            ("handheld", True),
            ("handheld", False),
        ]
        hello = json.loads(hub.register(Client(loop)))
        assert hello["handheld"] == {"attached": False, "port": "2e8a:000a", "detail": "unplugged"}
        assert hello["history"] == []  # a state, not a caption
    finally:
        loop.close()
    config = LiveConfig(
        source="en", target="pt", bridge="/dev/ttyACM0", ui=True, ui_port=_free_port()
    )
    hub = EventHub()
    server = start_kiosk(FakeController(), hub, config)
    try:
        looking = {"attached": None, "port": "/dev/ttyACM0", "detail": ""}
        assert hub.status["handheld"] == looking
    finally:
        server.stop()


def test_controller_takes_a_picked_pair(tmp_path: Path) -> None:
    """``LiveController.set_language_pair``: the picker's pair loads after the current
    utterances (one-way), or only turns the pair round (two-way, both loaded)."""
    from edge.engine import Stages

    def config(**values: Any) -> LiveConfig:
        files = {"input": str(tmp_path / "in.wav"), "output": str(tmp_path / "out.wav")}
        return LiveConfig(source="en", target="pt", **files, **values)

    one_way = LiveController(config(), lambda _s, _t: Stages())
    one_way.set_language_pair("en", "pt")
    assert one_way._swap_to is None  # the pair it has
    one_way.set_language_pair("pt", "en")
    assert one_way._swap_to == ("por_Latn", "eng_Latn")

    two_way = LiveController(config(two_way=True), lambda _s, _t: Stages())
    changes: list[str] = []
    two_way.subscribe(lambda e: changes.append(getattr(e, "pair", "")))
    two_way.set_language_pair("pt", "en")
    assert changes == ["PT>EN"] and two_way._swap_to is None
