"""The editor at `/` of `sean serve`, driven in headless Chromium (Selenium) against the real server
with the shipped shapes package and its samples.

The browser tests paint, swap and blend region styles, undo, upload bad files, download the image,
label map and styles, and save / load the editing state, each checked on the pixels the page shows.
They also write the screenshots docs/editor-*.png: into docs/ when SEAN_EDITOR_SCREENSHOTS=1 (to
refresh the checked-in ones), else into a temporary folder.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from sean_core.domains import LabelError, get_domain
from sean_core.imageio import png_indexed, raw_from_bytes, read_raw
from sean_runtime.remote import RemoteSynthesizer
from sean_runtime.serve.codec import bytes_to_b64
from sean_runtime.styles import Styles
from sean_runtime.synthesizer import Synthesizer
from tests.test_serve import Server, assert_error, b64_file, call, decode_answer

SHAPES = get_domain("shapes")
DOCS = Path(__file__).resolve().parents[1] / "docs"
STATIC = Path(__file__).resolve().parents[1] / "sean_runtime/serve/static"
VIEWPORT = (1440, 860)  # CSS pixels of the screenshots
SCREENSHOT_BYTES = 150_000  # each docs/editor-*.png stays under this
SETTLE_S = 30  # the longest an edit may take to show its image


# --- the server: page, static files and the list form of interpolate (no browser needed) ----------------
@pytest.fixture(scope="module")
def data(shapes_samples) -> Path:
    return shapes_samples / "test"


@pytest.fixture(scope="module")
def server(shapes_package, shapes_samples):
    srv = Server(shapes_package, "--samples", str(shapes_samples))
    yield srv
    assert srv.stop() == 0


@pytest.mark.slow  # the module's server (an export and `sean serve`) takes 5 s to start
def test_the_page_and_its_files_are_served(server):
    status, headers, page = call(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/static/editor.js">' in page
    kinds = {".js": "javascript", ".css": "text/css", ".html": "text/html"}
    files = sorted(STATIC.iterdir())
    assert {"editor.js", "state.js", "canvas.js", "regions.js", "references.js", "picker.js"} <= {p.name for p in files}
    for path in files:  # every module the page imports, however many the editor is split into
        status, headers, _ = call(server, "GET", f"/static/{path.name}")
        assert status == 200 and kinds[path.suffix] in headers["Content-Type"], (path.name, headers)
        assert headers["Cache-Control"] == "no-cache"
    for route in ("/static/nothing.js", "/static/..%2Fapp.py", "/static/.hidden"):
        assert_error(*call(server, "GET", route)[::2], 404)


@pytest.mark.slow
def test_the_page_is_open_when_the_api_needs_a_key(shapes_package, tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("k3y\n")
    srv = Server(shapes_package, "--api-key-file", str(key))
    try:
        assert call(srv, "GET", "/")[0] == 200
        assert call(srv, "GET", "/static/editor.js")[0] == 200
        status, _, answer = call(srv, "GET", "/v1/info")
        assert_error(status, answer, 401, "API key")
    finally:
        assert srv.stop() == 0


@pytest.mark.slow  # the module's server (an export and `sean serve`) takes 5 s to start
def test_synthesize_takes_a_list_of_interpolations(server, shapes_package, data):
    """The editor blends each region toward its own reference with its own alpha: one request."""
    synth = Synthesizer.load(shapes_package, backend="onnxruntime")
    own, ref2, ref3 = (synth.encode(data / f"images/0000{i}.png", data / f"labels/0000{i}.png") for i in (0, 2, 3))
    label = b64_file(data / "labels/00000.png")
    body = {
        "label": label,
        "styles": own.to_json(),
        "interpolate": [
            {"alpha": 0.25, "classes": ["ground"], "styles": ref3.to_json()},
            {"alpha": 0.75, "classes": [3, "triangle"], "styles": ref2.to_json()},
        ],
        "seed": 3,
        "return_styles": True,
    }
    status, _, answer = call(server, "POST", "/v1/synthesize", body)
    assert status == 200, answer
    expected = own.interpolate(ref3, 0.25, "ground").interpolate(ref2, 0.75, [3, "triangle"])
    np.testing.assert_array_equal(Styles.from_json(answer["styles"], synth.class_names).codes, expected.codes)
    expected_image = synth.synthesize(data / "labels/00000.png", expected, seed=3)[0]
    np.testing.assert_array_equal(decode_answer(answer), expected_image)
    # the single form is the same as a list of one
    single = call(server, "POST", "/v1/synthesize", {**body, "interpolate": body["interpolate"][0]})[2]
    listed = call(server, "POST", "/v1/synthesize", {**body, "interpolate": body["interpolate"][:1]})[2]
    assert single["image"] == listed["image"]
    bad = {**body, "interpolate": [body["interpolate"][0], {"alpha": 3, "styles": ref2.to_json()}]}
    assert_error(*call(server, "POST", "/v1/synthesize", bad)[::2], 400, "interpolate[1].alpha")


# --- the browser ---------------------------------------------------------------------------------------
def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install chromium chromium-driver; scripts/test.sh does it)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")


class Editor:
    """The page in headless Chromium, with helpers that act the way a person does (pointer, keys, files)."""

    def __init__(self, url: str, downloads: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.url = url
        self.downloads = downloads
        self.profile = tempfile.mkdtemp(prefix="sean-chromium-")
        options = webdriver.ChromeOptions()
        # As root Chromium needs --no-sandbox; the network switches keep it from calling out (closed network).
        for arg in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={self.profile}", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        ):
            options.add_argument(arg)
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        self.resize(*VIEWPORT)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )

    def resize(self, width: int, height: int, mobile: bool = False) -> None:
        """The window's size in CSS pixels; `mobile`: a phone's browser (the page's viewport meta tag applies, and
        a page wider than the screen is zoomed out to fit rather than scrolled)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- reading the page ---
    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def open(self) -> None:
        self.driver.get(self.url + "/")
        self.settle()

    def settle(self) -> None:
        """Wait until the image on screen is the answer for the latest edit."""
        from selenium.webdriver.support.ui import WebDriverWait

        time.sleep(0.05)  # let a just-sent pointer or key event reach the page
        WebDriverWait(self.driver, SETTLE_S, poll_frequency=0.05).until(
            lambda d: d.execute_script("return window.seanEditor !== undefined && window.seanEditor.settled")
        )

    def image(self) -> np.ndarray:
        """The image the page shows, uint8 RGB [H, W, 3] (64 x 64 with the shapes package)."""
        src = self.find("#output").get_attribute("src")
        assert src.startswith("data:image/png;base64,"), src[:40]
        return RemoteSynthesizer.decode_image(src)

    def message(self) -> str | None:
        box = self.find("#message")
        return None if box.get_attribute("hidden") is not None else self.find("#message-text").text

    # --- acting ---
    def click(self, css: str) -> None:
        self.find(css).click()

    def key(self, *keys: str) -> None:
        self.find("body").send_keys(*keys)

    def offset(self, x: float, y: float, css: str = "#label") -> tuple[int, int]:
        """Package pixel (x, y) -> pointer offset from the centre of `css` (CSS pixels), the whole map shown."""
        rect = self.find(css).rect
        return round((x + 0.5) * rect["width"] / 64 - rect["width"] / 2), round(
            (y + 0.5) * rect["height"] / 64 - rect["height"] / 2
        )

    def drag(self, *strokes: list[tuple[int, int]]) -> None:
        """Press, move through the points of each stroke (package pixels), release; then wait for the image."""
        from selenium.webdriver.common.action_chains import ActionChains

        canvas = self.find("#label")
        chain = ActionChains(self.driver, duration=0)  # pointer moves jump (the page fills lines in)
        for points in strokes:
            chain.move_to_element_with_offset(canvas, *self.offset(*points[0])).click_and_hold()
            for point in points[1:]:
                chain.move_to_element_with_offset(canvas, *self.offset(*point))
            chain.release()
        chain.perform()
        self.settle()

    def box(self, css: str) -> dict[str, float]:
        """The element's box on screen, transforms (zoom) included: x, y, width, height in CSS pixels."""
        return self.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}",
            self.find(css),
        )

    def click_at(self, css: str, x: float, y: float) -> None:
        """A click on package pixel (x, y) of the label map ("#label") or the image ("#output")."""
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver, duration=0).move_to_element_with_offset(
            self.find(css), *self.offset(x, y, css)
        ).click().perform()
        time.sleep(0.1)

    def select_class(self, name: str) -> None:
        self.click(f'#classes button[title="{name}"]')

    def choose(self, label: str, option: str) -> None:
        """Open the reference picker of the control `label` and click the thumbnail named `option`."""
        self.click(f'button[aria-label="{label}"]')
        tile = self.find(f'#picker .tile[aria-label="{option}"]')
        tile.click()
        self.settle()

    def slide(self, label: str, value: int) -> None:
        """Move a range input as a drag would: input events, then change."""
        self.driver.execute_script(
            "const s = arguments[0]; s.value = arguments[1];"
            "s.dispatchEvent(new Event('input', {bubbles: true}));"
            "s.dispatchEvent(new Event('change', {bubbles: true}));",
            self.find(f'input[aria-label="{label}"]'),
            str(value),
        )
        self.settle()

    def upload(self, css: str, path: Path) -> None:
        self.find(css).send_keys(str(path))

    def add_reference(self, image: Path, label: Path) -> None:
        self.upload("#ref-image", image)
        self.upload("#ref-label", label)
        self.click("#ref-add")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, SETTLE_S).until(
            lambda d: d.find_element("id", "ref-files").text != "encoding…"
        )
        self.settle()

    def download(self, css: str, suffix: str) -> Path:
        """Click a download button -> the file it saved (the folder is emptied first: no "name (1).png")."""
        for old in self.downloads.iterdir():
            old.unlink()
        self.click(css)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = [p for p in self.downloads.iterdir() if p.name.endswith(suffix)]
            if done and done[0].stat().st_size > 0:
                return done[0]
            time.sleep(0.05)
        raise AssertionError(f"no {suffix} file downloaded by {css}")

    def screenshot(self, name: str, folder: Path) -> Path:
        """The viewport as PNG, with no button left focused or hovered by the test's last click."""
        from selenium.webdriver.common.action_chains import ActionChains

        self.driver.execute_script("document.activeElement?.blur()")
        ActionChains(self.driver, duration=0).move_to_element_with_offset(self.find(".brand"), 0, 0).perform()
        path = folder / name
        png = np.frombuffer(self.driver.get_screenshot_as_png(), np.uint8)
        # 5 bits per channel (the 3 low bits repeat the high ones): the docs' PNGs stay small
        shot = cv2.imdecode(png, cv2.IMREAD_COLOR) & 0xF8
        cv2.imwrite(str(path), shot | (shot >> 5), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert path.stat().st_size < SCREENSHOT_BYTES, f"{name} is {path.stat().st_size} bytes"
        return path


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    editor = Editor(server.url, tmp_path_factory.mktemp("downloads"))
    yield editor
    editor.close()


@pytest.fixture
def page(browser):
    """The page freshly loaded: sample 00000's label map with its own styles; no script error after."""
    browser.open()
    assert browser.message() is None
    yield browser
    uncaught = [e["message"] for e in browser.driver.get_log("browser") if e["source"] == "javascript"]
    assert not uncaught, uncaught


def shots_folder(tmp_path_factory) -> Path:
    return DOCS if os.environ.get("SEAN_EDITOR_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return shots_folder(tmp_path_factory)


def downloaded_label(page: Editor) -> np.ndarray:
    """The label map the page downloads, read as the server reads it: class ids [H, W]."""
    return SHAPES.labels_from_bytes(page.download("#download-label", "-label.png").read_bytes())


def assert_refused_as_by_the_server(page: Editor, path: Path) -> str:
    """The page refuses the label file `path` with the server's own message (SHAPES.read_label's, the path as
    the file's name) and keeps the image it showed. -> the message."""
    with pytest.raises(LabelError) as caught:
        SHAPES.read_label(path)
    shown = page.image()
    page.upload("#open-label", path)
    time.sleep(0.3)
    message = page.message() or ""
    assert message == str(caught.value).replace(str(path), path.name), (message, str(caught.value))
    np.testing.assert_array_equal(page.image(), shown)
    return message


def far_from(mask: np.ndarray, pixels: float) -> np.ndarray:
    """Pixels further than `pixels` from every pixel of `mask`."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) > pixels


# The stroke: across the empty top of sample 00000 (rows 2..6 with brush size 5).
STROKE = [(6, 4), (20, 4), (34, 4), (48, 4), (58, 4)]


@pytest.mark.slow
@needs_browser
def test_start_shows_the_sample_and_its_own_image(page, data, shapes_package, shots):
    np.testing.assert_array_equal(downloaded_label(page), read_raw(data / "labels/00000.png"))
    synth = Synthesizer.load(shapes_package, backend="onnxruntime")
    styles = synth.encode(data / "images/00000.png", data / "labels/00000.png")
    np.testing.assert_array_equal(page.image(), synth.synthesize(data / "labels/00000.png", styles, seed=0)[0])
    # The header names what runs: the backend and the precision it computes in.
    assert page.find("#package").text.endswith("· onnxruntime fp32")
    page.screenshot("editor-start.png", shots)


@pytest.mark.slow
@needs_browser
def test_a_stroke_changes_the_image_there_and_undo_redo_are_exact(page, data):
    before, label_before = page.image(), downloaded_label(page)
    page.select_class("square")
    page.drag(STROKE)
    after, label = page.image(), downloaded_label(page)
    stroke = label != label_before
    assert stroke[2:7, 6:59].all() and not stroke[10:].any(), "the stroke paints rows 2..6 from x 6 to 58"
    assert (label[stroke] == SHAPES.class_names.index("square")).all()
    change = np.abs(after.astype(int) - before.astype(int)).max(axis=2)
    assert change[stroke].mean() > 30, change[stroke].mean()
    page.key("\ue009z")  # Ctrl+Z
    page.settle()
    np.testing.assert_array_equal(page.image(), before)
    np.testing.assert_array_equal(downloaded_label(page), label_before)
    page.key("\ue009y")  # Ctrl+Y
    page.settle()
    np.testing.assert_array_equal(page.image(), after)


@pytest.mark.slow
@needs_browser
def test_sixty_edits_undo_back_to_the_start(page):
    """Undo keeps at least 50 steps: 60 dabs of the brush, 60 Ctrl+Z, the first label map and image."""
    first, first_label = page.image(), downloaded_label(page)
    page.key("b", "7", "[[[[")  # brush, class 7 (band: not on the map yet), size 5 -> 1
    page.drag(*([(2 + i, 30 + i % 3)] for i in range(60)))  # 60 dabs, each changes one pixel
    assert (downloaded_label(page) != first_label).sum() > 0
    page.key("\ue009" + "z" * 60)  # Ctrl held, Z 60 times
    page.settle()
    np.testing.assert_array_equal(downloaded_label(page), first_label)
    np.testing.assert_array_equal(page.image(), first)
    assert page.find("#undo").get_attribute("disabled") is not None


@pytest.mark.slow
@needs_browser
def test_a_region_takes_its_style_from_an_uploaded_reference(page, data, shots):
    before = page.image()
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    assert page.message() is None
    page.choose("ground: style from", "00003")
    after = page.image()
    ground = read_raw(data / "labels/00000.png") == SHAPES.class_names.index("ground")
    change = np.abs(after.astype(int) - before.astype(int)).max(axis=2)
    inside = cv2.erode(ground.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    far = far_from(ground, 8)
    assert change[inside].mean() > 30, change[inside].mean()
    assert change[far].mean() < 3 and np.percentile(change[far], 95) <= 8, (change[far].mean(), change[far].max())
    page.screenshot("editor-swap.png", shots)

    # Blend the square toward the reference: alpha 0 is the own style exactly, 0.5 lies in between.
    page.choose("square: blend toward", "00003")
    page.slide("square: blend", 0)
    np.testing.assert_array_equal(page.image(), after)
    page.slide("square: blend", 50)
    half = page.image()
    page.slide("square: blend", 100)
    full = page.image()
    square = read_raw(data / "labels/00000.png") == SHAPES.class_names.index("square")
    to_half = np.abs(half.astype(int) - after.astype(int))[square].mean()
    to_full = np.abs(full.astype(int) - after.astype(int))[square].mean()
    assert 5 < to_half < to_full, (to_half, to_full)
    page.slide("square: blend", 50)
    page.screenshot("editor-interpolate.png", shots)


@pytest.mark.slow
@needs_browser
def test_downloaded_styles_give_the_same_image_from_the_api(page, data, server):
    page.click("#samples .thumb:nth-child(3) .add")  # sample 00002 as a reference
    page.settle()
    page.choose("blob: style from", "sample 00002")
    page.choose("triangle: blend toward", "sample 00002")
    page.slide("triangle: blend", 30)
    page.click("#dice")
    page.settle()
    styles = json.loads(page.download("#download-styles", "-styles.json").read_text())
    label = page.download("#download-label", "-label.png")
    seed = int(page.find("#seed").get_attribute("value"))
    body = {"label": bytes_to_b64(label.read_bytes()), "styles": styles, "seed": seed}
    status, _, answer = call(server, "POST", "/v1/synthesize", body)
    assert status == 200, answer
    np.testing.assert_array_equal(decode_answer(answer), page.image())
    image = page.download("#download-image", ".png")
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB), page.image())


@pytest.mark.slow
@needs_browser
def test_saved_state_loads_back_to_the_same_image(page, data):
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    page.choose("ground: style from", "00003")
    page.select_class("band")
    page.drag([(10, 58), (50, 58)])
    page.key("n")  # noise off
    page.settle()
    edited = page.image()
    state = page.download("#save-state", "-state.json")
    page.open()
    assert not np.array_equal(page.image(), edited)
    page.upload("#load-state", state)
    page.settle()
    np.testing.assert_array_equal(page.image(), edited)
    assert page.find("#noise").is_selected() is False
    # a file whose seed or references a later edit would send is refused now (every edit was a 400)
    saved = json.loads(state.read_text())
    no_image = {"references": [{**saved["references"][0], "image": None}]}
    bad_alpha = {"regions": {"1": {"from": None, "blend": "r1", "alpha": 1.5}}}  # the API takes [0, 1]
    bad_class = {"regions": {"abc": {"from": None, "blend": None}}}
    cases = (("seed", {"seed": "abc"}, "is not valid"), ("noimage", no_image, "lacks its image"),
             ("alpha", bad_alpha, "its regions are not"), ("class", bad_class, "its regions are not"))
    for name, change, words in cases:
        broken = state.with_name(f"{name}.json")
        broken.write_text(json.dumps({**saved, **change}))
        page.upload("#load-state", broken)
        page.settle()
        assert words in (page.message() or ""), page.message()
        np.testing.assert_array_equal(page.image(), edited)


@pytest.mark.slow
@needs_browser
def test_bad_uploads_show_the_message_and_keep_the_image(page, data, tmp_path):
    shown = page.image()
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    page.add_reference(text, data / "labels/00003.png")
    message = page.message()
    assert message and "not a readable image" in message, message
    assert page.find("#ref-files").text == message
    assert page.find("#refs").text.count("classes") == 1, "no reference added"
    np.testing.assert_array_equal(page.image(), shown)
    assert page.driver.execute_script("return document.querySelector('#output').naturalWidth") == 64

    wide = tmp_path / "sixteen-bit.png"
    cv2.imwrite(str(wide), read_raw(data / "labels/00003.png").astype(np.uint16))
    page.upload("#open-label", wide)
    time.sleep(0.3)
    assert "16-bit PNG" in (page.message() or ""), page.message()

    foreign = tmp_path / "foreign.png"
    cv2.imwrite(str(foreign), np.full((64, 64, 3), (1, 2, 3), np.uint8))
    page.upload("#open-label", foreign)
    time.sleep(0.3)
    assert "not in the palette" in (page.message() or ""), page.message()
    np.testing.assert_array_equal(page.image(), shown)

    greys = tmp_path / "grey-rgb.png"  # an RGB mask whose pixels are grey: colours, as the server reads them
    cv2.imwrite(str(greys), np.full((64, 64, 3), 200, np.uint8))
    page.upload("#open-label", greys)
    time.sleep(0.3)
    assert "colours [(200, 200, 200)] are not in the palette of domain" in (page.message() or ""), page.message()

    high = tmp_path / "high-ids.png"  # a map of ids with one past the classes: named as the server names it
    ids = read_raw(data / "labels/00003.png").copy()
    ids[0, 0] = 9
    cv2.imwrite(str(high), ids)
    assert_refused_as_by_the_server(page, high)
    # a bad file is said on the page, never logged as a script error
    logged = [e for e in page.driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert not logged, logged  # (the browser itself logs each 400 answer as a network error)



@pytest.mark.slow
@needs_browser
def test_fill_rectangle_eraser_and_picker(page, data):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    start = read_raw(data / "labels/00000.png").astype(np.uint8)
    blob, band, left_dot = (SHAPES.class_names.index(n) for n in ("blob", "band", "left_dot"))
    ys, xs = np.nonzero(start == blob)
    seed = (int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))
    page.select_class("band")
    page.key("f")
    page.drag([seed])
    _, parts = cv2.connectedComponents((start == blob).astype(np.uint8), connectivity=4)
    expected = start.copy()
    expected[parts == parts[seed[1], seed[0]]] = band
    np.testing.assert_array_equal(downloaded_label(page), expected)

    page.key("r", "5")  # rectangle of class 5
    page.drag([(40, 5), (44, 9), (50, 12)])
    expected[5:13, 40:51] = left_dot
    np.testing.assert_array_equal(downloaded_label(page), expected)

    page.key("e", "[[[[")  # eraser, size 1
    page.drag([(45, 8)])
    expected[8, 45] = 0
    np.testing.assert_array_equal(downloaded_label(page), expected)

    triangle = SHAPES.class_names.index("triangle")
    ty, tx = np.argwhere(expected == triangle)[0] + (2, 0)  # inside the triangle, below its apex
    assert expected[ty, tx] == triangle
    ActionChains(page.driver).key_down(Keys.ALT).move_to_element_with_offset(
        page.find("#label"), *page.offset(tx, ty)
    ).click().key_up(Keys.ALT).perform()
    assert page.find(f'#classes button[data-cls="{triangle}"]').get_attribute("aria-pressed") == "true"
    np.testing.assert_array_equal(downloaded_label(page), expected)


@pytest.mark.slow
@needs_browser
@pytest.mark.parametrize("stored", [True, False], ids=["stored-blocks", "deflate"])
def test_the_pages_png_writer_gives_label_files_of_class_ids(browser, stored):
    """png.js with either zlib path: 8-bit ids, and 16-bit once an id passes 255, read back by OpenCV."""
    browser.driver.get(browser.url + "/static/nothing")  # any page of the origin, to import the module
    rng = np.random.default_rng(0)
    for top in (8, 300):
        ids = rng.integers(0, top, size=(260, 300))  # over 65535 bytes: two stored blocks
        b64 = browser.driver.execute_async_script(
            "const [ids, w, h, stored, done] = arguments;"
            "import('/static/png.js').then(async (png) => done(png.bytesToBase64("
            "  await png.greyPng(Uint16Array.from(ids), w, h, {stored}))));",
            ids.ravel().tolist(), 300, 260, stored,
        )
        raw = raw_from_bytes(base64.b64decode(b64))
        assert raw.dtype == (np.uint8 if top <= 256 else np.uint16)
        np.testing.assert_array_equal(raw, ids)


@pytest.mark.slow
@needs_browser
def test_the_page_resizes_label_maps_exactly_as_the_server(browser):
    """labelmap.js sampled floor(x * in / out), the server pixel centres: a 77 x 200 map opened in the page
    differed from the server's resize of the same file in 429 of 16384 pixels."""
    from sean_core.imageio import resize_labels

    browser.driver.get(browser.url + "/static/nothing")  # any page of the origin, to import the module
    rng = np.random.default_rng(1)
    for (h, w), (out_h, out_w) in [((200, 77), (128, 128)), ((256, 256), (128, 128)), ((384, 384), (128, 128)),
                                   ((3, 1000), (128, 7)), ((129, 64), (256, 64))]:
        ids = rng.integers(0, 7, size=(h, w))
        got = browser.driver.execute_async_script(
            "const [ids, w, h, outW, outH, done] = arguments;"
            "import('/static/labelmap.js').then((m) => "
            "  done(Array.from(new m.LabelMap(w, h, Uint16Array.from(ids)).resized(outW, outH).ids)));",
            ids.ravel().tolist(), w, h, out_w, out_h,
        )
        expected = resize_labels(ids, out_h, out_w)
        np.testing.assert_array_equal(np.array(got).reshape(out_h, out_w), expected, err_msg=f"{(h, w)}")


def photo_of(labels: np.ndarray, height: int, width: int, path: Path, orientation: int | None = None) -> Path:
    """A photo of `labels` at width x height (the palette's colours, noisy) as a PNG, or as a JPEG stored turned
    whose EXIF `orientation` (6: turn 90 degrees clockwise) turns it back to width x height when read."""
    from sean_core.imageio import resize_labels
    from tests.helpers import with_exif_orientation
    from tests.segmenters import painted

    bgr = cv2.cvtColor(painted(resize_labels(labels, height, width), SHAPES.palette_array()), cv2.COLOR_RGB2BGR)
    if orientation is None:
        cv2.imwrite(str(path), bgr)
    else:
        stored = cv2.imencode(".jpg", np.ascontiguousarray(np.rot90(bgr, 1)), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
        path.write_bytes(with_exif_orientation(stored.tobytes(), orientation))
    return path


def last_reference_styles(page: Editor) -> Styles:
    """The styles of the reference the page added last, as /v1/encode answered them."""
    styles = page.driver.execute_async_script(
        "const done = arguments[0]; import('/static/state.js').then((m) => done(m.app.refs.at(-1).styles));"
    )
    return Styles.from_json(styles, SHAPES.class_names)


@pytest.mark.slow
@needs_browser
def test_a_photo_with_a_label_map_of_another_size_is_encoded_as_by_the_python_api(
    page, data, server, shapes_package, tmp_path
):
    """The server refused a photo (800x600, or 600x800 stored and turned by its EXIF orientation) with the
    64x64 label map made at the package's size: the page scales the map to the photo nearest-neighbour, and
    the reference's styles are Synthesizer.encode's of the photo with resize_labels' scaling of that map."""
    from sean_core.imageio import resize_labels

    info = call(server, "GET", "/v1/info")[2]
    assert info["labels_may_be_scaled"] is False  # shapes: a label map has its image's size
    synth = Synthesizer.load(shapes_package, backend="onnxruntime")
    labels = read_raw(data / "labels/00003.png")
    for name, orientation in (("photo.png", None), ("turned.jpg", 6)):
        photo = photo_of(labels, 600, 800, tmp_path / name, orientation)
        page.add_reference(photo, data / "labels/00003.png")
        assert page.message() == (f"00003.png is 64x64: scaled to {name}'s 800x600 nearest-neighbour, as the "
                                  "runtime scales label maps")
        expected = synth.encode(photo, resize_labels(labels, 600, 800))
        got = last_reference_styles(page)
        np.testing.assert_array_equal(got.codes, expected.codes, err_msg=name)
        np.testing.assert_array_equal(got.present, expected.present)
    # where the domain takes labels at another scale (faces: 1024² photos, 512² maps), the same aspect ratio stays
    same, other = page.driver.execute_async_script(
        "const done = arguments[0]; import('/static/labelmap.js').then((m) => {"
        "  const map = new m.LabelMap(32, 32);"
        "  done([m.labelForImage(map, {width: 64, height: 64}, true) === map,"
        "        m.labelForImage(map, {width: 64, height: 48}, true).width]); });"
    )
    assert same and other == 64


@pytest.mark.slow
@needs_browser
def test_a_photo_without_a_label_map_takes_the_map_painted_over_it(page, data, shapes_package, tmp_path):
    """Without a segmenter, a photo alone was refused ("pick its label map first"): it shows under the map, whose
    regions are painted over it, and Add encodes it with that map scaled to the photo, as Synthesizer.encode does
    the photo with resize_labels' scaling of the map; Start then edits it: its map and own styles, the API's image."""
    from sean_core.imageio import resize_labels

    labels = read_raw(data / "labels/00003.png")
    photo = photo_of(labels, 600, 800, tmp_path / "photo.png")
    page.upload("#ref-image", photo)
    assert page.find("#trace").is_displayed() and page.find("#ref-add").is_enabled()
    assert page.find("#ref-files").text == "image: photo.png · label map: the map as painted (paint its regions over " \
        "the photo)"

    def map_opacity() -> str:
        return page.driver.execute_script("return getComputedStyle(document.querySelector('#label')).opacity")

    assert page.find("#trace-opacity-row").is_displayed()  # how much of the map shows over the photo
    page.slide("Map opacity over the photo", 20)
    assert map_opacity() == "0.2"
    assert page.find("#trace-opacity-value").text == "20%"
    page.upload("#open-label", data / "labels/00003.png")  # the regions, as painted over the photo
    page.settle()
    page.click("#ref-add")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page.driver, SETTLE_S).until(lambda d: d.find_element("id", "ref-files").text != "encoding…")
    page.settle()
    assert page.message() == ("the map as painted is 64x64: scaled to photo.png's 800x600 nearest-neighbour, as the "
                              "runtime scales label maps")
    assert not page.find("#trace").is_displayed() and not page.find("#trace-opacity-row").is_displayed()
    assert map_opacity() == "1"
    synth = Synthesizer.load(shapes_package, backend="onnxruntime")
    expected = synth.encode(photo, resize_labels(labels, 600, 800))
    got = last_reference_styles(page)
    np.testing.assert_array_equal(got.codes, expected.codes)
    page.click("#refs .ref:last-child .actions button")  # Start: the photo is the picture to edit
    page.settle()
    np.testing.assert_array_equal(downloaded_label(page), labels)
    np.testing.assert_array_equal(page.image(), synth.synthesize(labels, expected, seed=0)[0])


@pytest.mark.slow
@needs_browser
def test_a_synthesis_error_shows_its_message_and_the_last_image_stays(page, data, tmp_path):
    """A state file whose reference holds codes of the wrong length: the server's 400, in the page, and the
    image of before shown as out of date (it was shown as the current one, with its timing)."""
    shown = page.image()
    assert "stale" not in page.find("#output-wrap").get_attribute("class")
    names = list(SHAPES.class_names)
    broken = {"codes": [[0.0] * 5 for _ in names], "present": [True] * len(names), "class_names": names}
    state = {
        "format": "sean-editor-state", "version": 1, "domain": "shapes", "class_names": names,
        "resolution": {"height": 64, "width": 64}, "label": b64_file(data / "labels/00001.png"),
        "own": "r1", "regions": {}, "seed": 0, "noise": True,
        "references": [{"id": "r1", "name": "broken", "kind": "upload", "styles": broken,
                        "image": "data:image/png;base64," + b64_file(data / "images/00001.png"),
                        "label": b64_file(data / "labels/00001.png")}],
    }
    path = tmp_path / "broken-state.json"
    path.write_text(json.dumps(state))
    page.upload("#load-state", path)
    page.settle()
    assert "style length is 32" in (page.message() or ""), page.message()
    assert page.find("#status").get_attribute("data-kind") == "error"
    np.testing.assert_array_equal(page.image(), shown)
    assert "stale" in page.find("#output-wrap").get_attribute("class")
    assert page.find("#timing").text.startswith("out of date")
    np.testing.assert_array_equal(downloaded_label(page), read_raw(data / "labels/00001.png"))


@pytest.mark.slow
@needs_browser
def test_the_image_catches_up_by_itself_when_the_server_is_back(page):
    """The server away mid-edit (stopped, then started again, answering 503 while its package loads): the edit made
    meanwhile gets its image once the server answers, with no further edit (the image stayed greyed out as out of
    date until one more edit)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def caught_up(before: np.ndarray, seed: str) -> None:
        WebDriverWait(page.driver, 10, poll_frequency=0.1).until(
            lambda d: "stale" not in page.find("#output-wrap").get_attribute("class")
        )
        page.settle()
        assert page.message() is None
        assert page.find("#status").get_attribute("data-kind") == "ready"
        assert not np.array_equal(page.image(), before)
        assert page.download("#download-image", ".png").name == f"sean-shapes-seed{seed}.png"

    before = page.image()
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    page.driver.execute_cdp_cmd("Network.enable", {})
    page.driver.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    try:
        page.key("d")  # a new seed while the server cannot be reached
        page.settle()
        assert (page.message() or "").startswith("cannot reach the server"), page.message()
        assert "stale" in page.find("#output-wrap").get_attribute("class")
    finally:
        page.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    caught_up(before, page.find("#seed").get_attribute("value"))

    before = page.image()
    page.driver.execute_script(
        "window.loading = true; const real = window.fetch; window.fetch = (url, init) =>"
        " window.loading && String(url).endsWith('/v1/synthesize') ? Promise.resolve(new Response("
        " JSON.stringify({error: 'the package is still loading; retry shortly'}), {status: 503})) : real(url, init);"
    )
    page.key("d")
    page.settle()
    assert page.message() == "the package is still loading; retry shortly"
    page.driver.execute_script("window.loading = false")
    caught_up(before, page.find("#seed").get_attribute("value"))


@pytest.mark.slow
@needs_browser
def test_the_page_asks_for_the_api_key(browser, shapes_package, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    key = tmp_path / "key.txt"
    key.write_text("k3y\n")
    srv = Server(shapes_package, "--api-key-file", str(key))
    try:
        browser.driver.get(srv.url + "/")
        dialog = browser.find("#key-dialog")
        WebDriverWait(browser.driver, SETTLE_S).until(lambda d: dialog.get_attribute("open") is not None)
        assert not browser.find("#key-refused").is_displayed()
        browser.find("#key-input").send_keys("wrong\n")  # asked again, now saying why
        WebDriverWait(browser.driver, SETTLE_S).until(lambda d: browser.find("#key-refused").is_displayed())
        assert dialog.get_attribute("open") is not None
        browser.find("#key-input").clear()
        browser.find("#key-input").send_keys("k3y\n")
        browser.settle()
        assert browser.message() is None
        assert browser.image().shape == (64, 64, 3)
    finally:
        browser.driver.get("about:blank")  # the key stays in that origin's sessionStorage only
        assert srv.stop() == 0


def inside_of(data: Path, name: str, sample: str = "00000") -> tuple[np.ndarray, tuple[int, int]]:
    """The class's mask in the sample's label map and a pixel (x, y) well inside it."""
    mask = read_raw(data / f"labels/{sample}.png") == SHAPES.class_names.index(name)
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return mask, (int(x), int(y))


@pytest.mark.slow
@needs_browser
def test_a_click_on_a_region_opens_its_style_choice_of_thumbnails(page, data, shots):
    """Region first: a click on the image (or on the map with the region tool) chooses that region and
    opens thumbnails of the references, whole names shown; picking one swaps that region's style only."""
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    page.click("#samples .thumb:nth-child(3) .add")  # sample 00002: it has no ground
    page.settle()
    before = page.image()
    ground, (x, y) = inside_of(data, "ground")
    page.click_at("#output", x, y)
    cls = SHAPES.class_names.index("ground")
    picker = page.find("#picker")
    assert picker.get_attribute("aria-label") == "ground: style from"
    assert page.find(f'#classes button[data-cls="{cls}"]').get_attribute("aria-pressed") == "true"
    assert page.find('[data-tool="region"]').get_attribute("aria-pressed") == "true", "choosing a region keeps the tool"
    assert page.find(".region.focus").get_attribute("data-cls") == str(cls)
    for svg in page.driver.find_elements("css selector", ".frame svg.outline"):
        assert svg.get_attribute("data-cls") == str(cls)
        assert len(svg.find_element("css selector", "path.over").get_attribute("d")) > 20, "the region is outlined"
    tiles = {t.get_attribute("aria-label"): t for t in picker.find_elements("css selector", ".tile")}
    assert list(tiles) == ["own", "sample 00000", "00003", "sample 00002"]
    uploaded = tiles["00003"]
    assert uploaded.find_element("css selector", "img").get_attribute("src").startswith("data:image/png;base64,")
    name = uploaded.find_element("css selector", ".tile-name")
    assert name.text == "00003"
    for tile in tiles.values():  # every name whole: no cut "sample 0000("
        label = tile.find_element("css selector", ".tile-name")
        assert page.driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", label)
        assert label.text == tile.get_attribute("aria-label")
    assert tiles["sample 00002"].get_attribute("data-note") == "no ground in it"
    assert tiles["own"].get_attribute("aria-pressed") == "true"
    page.screenshot("editor-region.png", shots)

    uploaded.click()
    page.settle()
    assert not page.driver.find_elements("css selector", "#picker"), "picking closes the thumbnails"
    assert page.find('button[aria-label="ground: style from"]').get_attribute("data-ref") != ""
    change = np.abs(page.image().astype(int) - before.astype(int)).max(axis=2)
    inside = cv2.erode(ground.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert change[inside].mean() > 30 and change[far_from(ground, 8)].mean() < 3

    # the region tool on the label map does the same
    _, (x, y) = inside_of(data, "square")
    page.click_at("#label", x, y)
    assert page.find("#picker").get_attribute("aria-label") == "square: style from"
    page.key("\ue00c")  # Escape
    assert not page.driver.find_elements("css selector", "#picker")
    from selenium.webdriver.common.action_chains import ActionChains

    # Space on a focused tile picks it, also with the pointer over the map (the map's Space-to-pan is not it)
    page.click_at("#label", x, y)  # the pointer stays over the map; a tile gets the focus (as by Tab)
    page.driver.execute_script("document.querySelector('#picker .tile').focus()")
    ActionChains(page.driver).send_keys(" ").perform()
    page.settle()
    assert not page.driver.find_elements("css selector", "#picker"), "Space picked the focused tile"
    # opened from a control, the focus goes back to it when the choice closes (it went to the page's body)
    page.click('button[aria-label="ground: style from"]')
    assert page.driver.execute_script("return document.activeElement.closest('#picker') !== null")
    ActionChains(page.driver).send_keys("\ue00c").perform()  # Escape, to the focused tile
    focused = page.driver.execute_script("return document.activeElement.getAttribute('aria-label')")
    assert focused == "ground: style from" and not page.driver.find_elements("css selector", "#picker")

    # a region whose row is out of the panel's view: the panel scrolls to it, the choice stays open
    _, (x, y) = inside_of(data, "left_dot")
    page.click_at("#output", x, y)
    time.sleep(0.3)
    assert page.find("#picker").get_attribute("aria-label") == "left_dot: style from"
    row = page.find('.region[data-cls="5"]')
    assert page.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(), p = document.querySelector('#regions')"
        ".closest('.panel').getBoundingClientRect(); return r.top >= p.top - 1 && r.bottom <= p.bottom + 1", row
    ), "the chosen region's row is in view"


def dom_growth(page: Editor, cycle: Callable[[], None], times: int) -> dict[str, int]:
    """How many DOM nodes and event listeners (attached or not) `times` calls of cycle() leave alive, each
    count taken after a full garbage collection."""

    def counts() -> dict[str, int]:
        page.driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        return page.driver.execute_cdp_cmd("Memory.getDOMCounters", {})

    cycle()  # the first opening builds what stays (the page's own lazily made objects)
    time.sleep(0.05)
    before = counts()
    for _ in range(times):
        cycle()
    time.sleep(0.05)  # timers the last cycle set
    after = counts()
    return {key: after[key] - before[key] for key in ("nodes", "jsEventListeners")}


@pytest.mark.slow
@needs_browser
def test_a_style_choice_opened_and_closed_leaves_no_nodes_or_listeners_behind(page):
    """Every closed pop-over stayed alive, its tiles and their listeners with it, when it was removed while a
    tile had the focus, or when it closed before its outside-click listener was added (a timer after the
    opening click). No picker element is handed to WebDriver here: ChromeDriver keeps each one it returns."""
    from selenium.webdriver.common.action_chains import ActionChains

    control = 'button[aria-label="ground: style from"]'
    times = 20  # a pop-over left alive is at least 15 nodes and 3 listeners here, each time

    def escape() -> None:
        page.click(control)  # the focus goes to a tile
        ActionChains(page.driver).send_keys("\ue00c").perform()  # Escape, typed to that tile

    def within_one_task() -> None:
        page.driver.execute_script(
            "document.querySelector(arguments[0]).click();"
            "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))",
            control,
        )

    for cycle in (escape, within_one_task):
        growth = dom_growth(page, cycle, times)
        assert not page.driver.find_elements("css selector", "#picker")
        assert growth["nodes"] < times and growth["jsEventListeners"] < times, (cycle.__name__, growth)


# What must stay inside a narrow window: the frames, a tool, a class, undo, zoom, seed, downloads, a reference's
# file input, a region's style choice and the help.
KEY_CONTROLS = (
    "#label-wrap", "#output-wrap", '[data-tool="brush"]', "#classes button", "#undo", "#zoom-in", "#seed", "#dice",
    "#download-image", "#save-state", "label:has(#ref-image)", 'button[aria-label="ground: style from"]', "#help-open",
)  # fmt: skip


@pytest.mark.slow
@needs_browser
def test_narrow_windows_never_scroll_sideways_and_show_the_frames_whole(browser, data):
    """A phone (390 px) and windows near or below the three columns' limit (1000 px; 1120 px, where the
    captions widened the frames' row past the stage) scrolled sideways. Nothing does: every control lies
    inside the window, the frames take the width there is and show whole on opening, and a click on the image
    opens its style choice beside it without scrolling the page away to the region's row."""
    _, (x, y) = inside_of(data, "left_dot")  # its row is far down the styles panel
    try:
        for width, height, mobile in ((390, 844, True), (1000, 800, False), (1120, 800, False)):
            browser.resize(width, height, mobile)
            browser.open()
            inner, scroll = browser.driver.execute_script("return [innerWidth, document.documentElement.scrollWidth]")
            assert inner == width and scroll <= inner, f"{width} px: a page {scroll} px wide in a window of {inner}"
            wider = browser.driver.execute_script(
                "return [...document.querySelectorAll('.stage, .panel')].filter((e) => e.scrollWidth > e.clientWidth)"
                ".map((e) => e.getAttribute('aria-label'))"
            )
            assert not wider, f"{width} px: {wider} scroll sideways"
            for css in KEY_CONTROLS:
                box = browser.box(css)
                assert browser.find(css).is_displayed(), (width, css)
                assert box["width"] > 0 and 0 <= box["x"] and box["x"] + box["width"] <= width, (width, css, box)
            label, image = browser.box("#label-wrap"), browser.box("#output-wrap")
            for frame in (label, image):
                assert 0 <= frame["y"] and frame["y"] + frame["height"] <= height, (width, frame)
            if width < 540:  # stacked, each as wide as the page allows
                assert label["x"] == image["x"] and label["width"] >= 0.75 * width, (label, image)
            else:
                assert label["y"] == image["y"], "the map and the image side by side"
            figure = browser.box("figure")
            assert figure["width"] == pytest.approx(label["width"], abs=1), "a caption wider than its frame"
            browser.click_at("#output", x, y)
            assert browser.driver.execute_script("return scrollY") == 0, "the page stays on the image"
            picker = browser.box("#picker")
            assert 0 <= picker["x"] and picker["x"] + picker["width"] <= width, (width, picker)
        uncaught = [e["message"] for e in browser.driver.get_log("browser") if e["source"] == "javascript"]
        assert not uncaught, uncaught
    finally:
        browser.resize(*VIEWPORT)


@pytest.mark.slow
@needs_browser
def test_the_whole_image_slider_interpolates_every_region(page, data, shapes_package, shots):
    """Figs. 10-11 of the paper: every region from the own style toward a reference, by one slider."""
    synth = Synthesizer.load(shapes_package, backend="onnxruntime")
    own = synth.encode(data / "images/00000.png", data / "labels/00000.png")
    ref = synth.encode(data / "images/00003.png", data / "labels/00003.png")
    label = data / "labels/00000.png"
    start = page.image()
    slider = 'input[aria-label="every region: blend"]'
    assert page.find(slider).get_attribute("disabled") is not None
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    page.choose("every region: blend toward", "00003")
    assert page.find(slider).get_attribute("disabled") is None
    for percent in (0, 100, 50):
        page.slide("every region: blend", percent)
        expected = synth.synthesize(label, own.interpolate(ref, percent / 100), seed=0)[0]
        np.testing.assert_array_equal(page.image(), expected, err_msg=f"at {percent}%")
    assert not np.array_equal(page.image(), start)
    rows = page.driver.find_elements("css selector", ".region input[type=range]")
    assert rows and all(r.get_attribute("value") == "50" for r in rows), "each region's own slider follows"
    page.screenshot("editor-interpolate.png", shots)
    page.key("\ue009z")  # one drag, one undo step: back to 100%
    page.settle()
    full = synth.synthesize(label, own.interpolate(ref, 1.0), seed=0)[0]
    np.testing.assert_array_equal(page.image(), full)
    assert page.find(slider).get_attribute("value") == "100"

    # every region's style from the reference: each row and the every-region control show it
    page.choose("every region: style from", "00003")
    chosen = {b.get_attribute("data-ref") for b in page.driver.find_elements("css selector", "button.choice")
              if b.get_attribute("aria-label").endswith(": style from")}
    assert len(chosen) == 1 and chosen != {""}, chosen
    expected = synth.synthesize(label, own.swap(list(SHAPES.class_names), ref).interpolate(ref, 1.0), seed=0)[0]
    np.testing.assert_array_equal(page.image(), expected)


@pytest.mark.slow
@needs_browser
def test_zoom_to_a_small_region_and_paint_in_it(page, data, shots):
    from selenium.webdriver.common.action_chains import ActionChains

    dot = SHAPES.class_names.index("left_dot")
    start = downloaded_label(page)
    ys, xs = np.nonzero(start == dot)
    assert 0 < len(xs) < 0.05 * start.size, "left_dot is a small region of sample 00000"
    page.click('button[aria-label="left_dot: zoom to region"]')
    zoom = int(page.find("#zoom-value").text.rstrip("%"))
    frame, canvas = page.box("#label-wrap"), page.box("#label")
    assert zoom >= 200 and canvas["width"] == pytest.approx(frame["width"] * zoom / 100, rel=0.01)
    pixel = canvas["width"] / 64  # CSS pixels per package pixel now

    def screen(x: float, y: float) -> tuple[float, float]:
        return canvas["x"] + x * pixel, canvas["y"] + y * pixel

    left, top = screen(xs.min(), ys.min())
    right, bottom = screen(xs.max() + 1, ys.max() + 1)
    assert frame["x"] <= left and right <= frame["x"] + frame["width"], "the region shows whole, across"
    assert frame["y"] <= top and bottom <= frame["y"] + frame["height"], "the region shows whole, down"
    assert right - left >= frame["width"] / 4, "and large"
    page.screenshot("editor-zoom.png", shots)

    # a one-pixel dab at the frame's centre paints the package pixel shown there
    page.key("7", "[[[[")  # band, brush size 1
    ActionChains(page.driver, duration=0).move_to_element(page.find("#label-wrap")).click().perform()
    page.settle()
    painted = np.argwhere(downloaded_label(page) != start)
    assert len(painted) == 1, painted
    cx = (frame["x"] + frame["width"] / 2 - canvas["x"]) / pixel
    cy = (frame["y"] + frame["height"] / 2 - canvas["y"]) / pixel
    assert abs(painted[0][1] + 0.5 - cx) <= 1 and abs(painted[0][0] + 0.5 - cy) <= 1, (painted, cx, cy)

    page.key("\ue011")  # Home: the whole map again
    assert page.find("#zoom-value").text == "100%"
    assert page.box("#label")["width"] == pytest.approx(frame["width"], abs=0.5)
    assert page.find("#zoom-out").get_attribute("data-why"), "zoom out is off at 100% and says why"

    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    wheel = ScrollOrigin.from_element(page.find("#output-wrap"))
    ActionChains(page.driver).scroll_from_origin(wheel, 0, -100).perform()
    time.sleep(0.1)
    assert int(page.find("#zoom-value").text.rstrip("%")) > 100, "the wheel zooms in"
    assert page.box("#output")["width"] == pytest.approx(page.box("#label")["width"], abs=0.5), "both frames zoom"


@pytest.mark.slow
@needs_browser
def test_quick_clicks_add_a_sample_once_and_space_over_the_map_pans_after_a_button_click(page):
    """Five quick clicks on a sample's + added five references (each its own encode); Space + drag over the
    map painted when a clicked button kept the focus."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page.driver.execute_script("for (let i = 0; i < 5; i++) document.querySelectorAll('#samples .add')[1].click()")
    page.settle()
    assert page.find("#refs").text.count("sample 00001") == 1, page.find("#refs").text
    start = downloaded_label(page)
    page.key("7")  # brush, band
    page.click("#zoom-in")  # the button keeps the focus
    page.click("#zoom-in")
    canvas = page.box("#label")
    label = page.find("#label")
    chain = ActionChains(page.driver, duration=0).move_to_element(label).key_down(Keys.SPACE)
    chain.click_and_hold().move_by_offset(40, 30).release().key_up(Keys.SPACE).perform()
    page.settle()
    np.testing.assert_array_equal(downloaded_label(page), start)  # nothing painted
    assert page.box("#label")["x"] != canvas["x"] or page.box("#label")["y"] != canvas["y"], "the view panned"


@pytest.mark.slow
@needs_browser
def test_a_grey_label_map_of_4_bits_opens_with_the_ids_stored(page, tmp_path):
    """The server reads such a file's ids; the page read the browser's stretch of them (1 -> 17) and refused
    the map as colours not in the palette."""
    from tests.helpers import packed_grey_rows, png_file

    ids = (np.arange(64 * 64).reshape(64, 64) // 9 % 8).astype(np.uint8)
    path = tmp_path / "ids4.png"
    path.write_bytes(png_file(64, 64, 0, 4, packed_grey_rows(ids, 4)))
    page.upload("#open-label", path)
    page.settle()
    assert page.message() is None, page.message()
    np.testing.assert_array_equal(downloaded_label(page), ids)


@pytest.mark.slow
@needs_browser
def test_a_palette_png_opens_by_its_colours_as_the_server_reads_it(page, tmp_path):
    """An indexed-colour PNG: its palette's colours, never its indices, as both runtimes read it. In the domain's
    palette it opens with those ids; in another one (or a grey palette, which the page once read as ids) it is
    refused with the server's message."""
    from tests.helpers import VOC_PALETTE, palette_png

    ids = (np.arange(64 * 64).reshape(64, 64) // 9 % 8).astype(np.uint8)
    own = tmp_path / "own-palette.png"
    own.write_bytes(palette_png(ids, list(SHAPES.palette)))
    page.upload("#open-label", own)
    page.settle()
    assert page.message() is None, page.message()
    np.testing.assert_array_equal(downloaded_label(page), ids)
    for name, palette in (("voc", VOC_PALETTE), ("grey", [(i, i, i) for i in range(8)])):
        path = tmp_path / f"{name}-palette.png"
        path.write_bytes(palette_png(ids, palette))
        assert_refused_as_by_the_server(page, path)


@pytest.mark.slow
@needs_browser
def test_an_rgb_png_of_grey_pixels_is_read_as_colours_as_the_server_reads_it(page, tmp_path):
    """An RGB PNG whose pixels are grey values below the class count: colours, never ids, in both runtimes. The
    page once opened it as a map of class ids, which the server and the C++ runtime refuse."""
    ids = (np.arange(64 * 64).reshape(64, 64) // 9 % 8).astype(np.uint8)
    path = tmp_path / "grey-rgb-ids.png"
    cv2.imwrite(str(path), np.repeat(ids[:, :, None], 3, axis=2))
    assert_refused_as_by_the_server(page, path)


@pytest.mark.slow
@needs_browser
def test_an_id_map_in_three_channels_or_a_bgr_mask_gets_the_servers_hint(page, tmp_path):
    """The page shows the server's hint for what such a file looks like (Domain.colour_mask_hint): ids saved
    as RGB (cv2.imwrite of a three-channel id map), or colours in BGR order (cv2.imwrite of an RGB mask)."""
    ids = (np.arange(64 * 64).reshape(64, 64) // 9 % 8).astype(np.uint8)
    greys, bgr = tmp_path / "grey-rgb-ids.png", tmp_path / "bgr-mask.png"
    cv2.imwrite(str(greys), np.repeat(ids[:, :, None], 3, axis=2))
    cv2.imwrite(str(bgr), SHAPES.labels_to_colors(ids))  # OpenCV writes the array as BGR: the file's RGB is reversed
    assert "it looks like class ids saved as RGB" in assert_refused_as_by_the_server(page, greys)
    assert "it looks like BGR (OpenCV's channel order" in assert_refused_as_by_the_server(page, bgr)


@pytest.mark.slow
@needs_browser
def test_label_files_the_browser_cannot_read_as_the_server_does_are_refused(page, data, tmp_path):
    """The server reads a label map's stored values and drops transparency; the page reads what a canvas
    gives, which premultiplies alpha (a transparent pixel's id became 0). So a label map with transparent
    pixels, or one that is not a PNG (a BMP's grey pixels are colours to the server, ids to the page), is
    refused with the fix instead of opening with other ids (or none: the server reads both files here); the
    same map opaque opens with its ids."""
    from tests.helpers import png_file

    ids = read_raw(data / "labels/00003.png")
    opaque = tmp_path / "opaque.png"  # grey + alpha with every pixel opaque: the ids stored
    opaque.write_bytes(png_file(64, 64, 4, 8, b"".join(
        b"\x00" + np.stack([row, np.full_like(row, 255)], axis=1).tobytes() for row in ids)))
    page.upload("#open-label", opaque)
    page.settle()
    assert page.message() is None, page.message()
    np.testing.assert_array_equal(downloaded_label(page), ids)
    shown = page.image()
    alpha = np.full(ids.shape, 255, np.uint8)
    alpha[:8, :8] = 0
    for name, file in (
        ("transparent.png", png_file(64, 64, 4, 8, b"".join(
            b"\x00" + np.stack([row, a], axis=1).tobytes() for row, a in zip(ids, alpha, strict=True)))),
        ("colours.bmp", cv2.imencode(".bmp", SHAPES.labels_to_colors(ids)[:, :, ::-1])[1].tobytes()),
    ):
        path = tmp_path / name
        path.write_bytes(file)
        np.testing.assert_array_equal(SHAPES.read_label(path), ids)  # the server reads both
        page.upload("#open-label", path)
        time.sleep(0.3)
        message = page.message() or ""
        assert message.startswith(name) and ("without transparency" if name.endswith(".png") else "save it as a PNG") \
            in message, message
        np.testing.assert_array_equal(page.image(), shown)


@pytest.mark.slow
@needs_browser
def test_a_package_without_a_palette_refuses_colour_masks_and_downloads_ids_named_so(
    browser, shapes_package, tmp_path
):
    """A package whose domain plugin is not installed and whose manifest has no palette: the server refuses
    an RGB label map; the page read it by its own stand-in colours (all black: class 0). Its label map downloads
    as the grey PNG of class ids, which no palette shows in colour: the file's name says it holds ids."""
    from sean_runtime.package import load_package

    package = tmp_path / "unplugged"
    shutil.copytree(shapes_package, package)
    manifest = json.loads((package / "manifest.json").read_text())
    (package / "manifest.json").write_text(json.dumps({**manifest, "domain": "unplugged", "palette": None}))
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(LabelError) as caught:  # the server's own reading of the file
        Synthesizer.load(package).domain.read_label(black)
    assert load_package(package).domain == "unplugged"
    srv = Server(package)
    try:
        browser.driver.get(srv.url + "/")
        browser.settle()
        browser.upload("#open-label", black)
        time.sleep(0.3)
        message = browser.message() or ""
        assert message == str(caught.value).replace(str(black), black.name), (message, str(caught.value))
        ids = raw_from_bytes(browser.download("#download-label", "-label-ids.png").read_bytes())
        assert ids.shape == (64, 64) and not ids.any()
    finally:
        browser.driver.get("about:blank")
        assert srv.stop() == 0


@pytest.mark.slow
@needs_browser
def test_undo_after_removing_the_own_reference_brings_it_back(page):
    """The removal was an undo step but the list was not: undo pointed at a deleted reference (grey image)."""
    from selenium.webdriver.common.keys import Keys

    before = page.image()
    page.click('#refs button[aria-label="Remove sample 00000"]')
    page.settle()
    assert "sample 00000" not in page.find("#refs").text
    assert not np.array_equal(page.image(), before)
    page.key(Keys.CONTROL + "z")
    page.settle()
    assert "sample 00000" in page.find("#refs").text
    np.testing.assert_array_equal(page.image(), before)
    page.key(Keys.CONTROL + "y")  # redo takes it out again
    page.settle()
    assert "sample 00000" not in page.find("#refs").text
    # + on the removed sample brings that reference back (one entry, also after an undo), not a second one
    page.click("#samples .add")
    page.settle()
    assert page.find("#refs").text.count("sample 00000") == 1, page.find("#refs").text
    page.key(Keys.CONTROL + "z")  # undoes the adding back; no second copy appears from the older removal
    page.settle()
    assert page.find("#refs").text.count("sample 00000") == 0, page.find("#refs").text


@pytest.mark.slow
@needs_browser
def test_every_disabled_control_says_why(page, data):
    def disabled() -> dict[str, str]:
        found = page.driver.execute_script(
            "return [...document.querySelectorAll('button:disabled, input:disabled')].map((e) =>"
            " [e.id || e.getAttribute('aria-label'), e.dataset.why || '', e.title])"
        )
        for name, why, title in found:
            assert why and title.endswith(why), (name, why, title)
        return {name: why for name, why, _ in found}

    off = disabled()
    assert off["undo"] == "nothing to undo yet" and "redo" in off
    assert off["ref-add"] == "pick the style image first"
    assert "blend toward" in off["every region: blend"]
    page.click("#dice")
    page.settle()
    off = disabled()
    assert "undo" not in off
    assert page.find("#undo").get_attribute("title") == "Undo (Ctrl+Z)"
    page.upload("#ref-image", data / "images/00003.png")  # a photo alone takes the map as painted
    assert "ref-add" not in disabled()


@pytest.mark.slow
@needs_browser
def test_a_photo_without_a_label_map_becomes_a_reference_through_the_segmenter(
    shapes_package, shapes_samples, data, tmp_path
):
    """A server with a segmenter (tests/segmenters.py: the nearest palette colour) takes a reference image
    alone; its styles are the encoder's under the label map the picture was painted from, and Start draws
    that map."""
    from tests.segmenters import painted, palette_segmenter

    pytest.importorskip("onnx", reason="the test segmenter is built with onnx.helper (the 'export' extra)")
    labels = read_raw(data / "labels/00003.png").astype(np.int64)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(painted(labels, SHAPES.palette_array()), cv2.COLOR_RGB2BGR))
    model = palette_segmenter(tmp_path / "segmenter.onnx", SHAPES.palette_array())
    srv = Server(shapes_package, "--segmenter", str(model), "--samples", str(shapes_samples))
    (tmp_path / "downloads").mkdir()
    editor = Editor(srv.url, tmp_path / "downloads")
    try:
        editor.open()
        assert editor.find("#ref-add").get_attribute("data-why") == "pick the style image first"
        editor.upload("#ref-image", photo)
        assert editor.find("#ref-add").is_enabled()
        editor.click("#ref-add")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(editor.driver, SETTLE_S).until(lambda d: d.find_element("id", "ref-files").text != "encoding…")
        editor.settle()
        assert editor.message() is None and editor.find("#refs").text.count("classes") == 2
        editor.choose("ground: style from", "photo")
        styles = Styles.from_json(json.loads(editor.download("#download-styles", "-styles.json").read_text()),
                                  SHAPES.class_names)  # fmt: skip
        expected = Synthesizer.load(shapes_package, backend="onnxruntime").encode(photo, labels)
        ground = SHAPES.class_names.index("ground")
        np.testing.assert_array_equal(styles.codes[0, ground], expected.codes[0, ground])
        editor.click("#refs .ref:last-child .actions button")  # Start: its label map, the segmenter's
        editor.settle()
        np.testing.assert_array_equal(downloaded_label(editor), labels)
        uncaught = [e["message"] for e in editor.driver.get_log("browser") if e["source"] == "javascript"]
        assert not uncaught, uncaught
    finally:
        editor.close()
        assert srv.stop() == 0


@pytest.mark.slow
@needs_browser
def test_the_demo_model_in_the_editor_a_click_on_the_sky_takes_another_scenes_sky(tmp_path_factory):
    """The first hour's editor: the shipped landscapes model with its test scenes (what `sean demo` writes
    to demo-out/inputs). A click on the sky and a reference's thumbnail give the sky that scene's style;
    the ground far from the sky keeps its own. The screenshot is the README's."""
    from sean_export import export_package
    from sean_runtime.commands.demo import shipped_checkpoint

    landscapes = get_domain("landscapes")
    package = export_package(shipped_checkpoint("landscapes"), tmp_path_factory.mktemp("land") / "package",
                             validate=False, progress=False)
    samples = landscapes.write_split(tmp_path_factory.mktemp("land-data"), "test", 4, progress=False)
    server = Server(package, "--samples", str(samples))
    editor = Editor(server.url, tmp_path_factory.mktemp("land-downloads"))
    try:
        editor.open()
        assert editor.message() is None
        editor.click("#samples .thumb:nth-child(4) .add")  # scene 00003 (a sunset) as a reference
        editor.settle()
        before = editor.image()
        sky = read_raw(samples / "test/labels/00000.png") == landscapes.class_names.index("sky")
        depth = cv2.distanceTransform(sky.astype(np.uint8), cv2.DIST_L2, 3)
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        editor.click_at("#output", int(x), int(y))
        picker = editor.find("#picker")
        assert picker.get_attribute("aria-label") == "sky: style from"
        tiles = {t.get_attribute("aria-label"): t for t in picker.find_elements("css selector", ".tile")}
        tiles["sample 00003"].click()
        editor.settle()
        change = np.abs(editor.image().astype(int) - before.astype(int)).max(axis=2)
        assert change[cv2.erode(sky.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0].mean() > 30
        assert change[far_from(sky, 24)].mean() < 0.25 * change[sky].mean()
        editor.click_at("#output", int(x), int(y))  # the choice open again, for the picture
        editor.screenshot("editor-landscapes.png", shots_folder(tmp_path_factory))
    finally:
        editor.close()
        assert server.stop() == 0


@pytest.mark.slow
@needs_browser
def test_keyboard_users_keep_their_place_and_quick_snapshots_add_one_reference(page, data):
    """A slider moved with the arrow keys, and the button a style choice made by keyboard returns to, lost the
    focus when their panel was rebuilt (one arrow step, then nothing); four quick clicks on "current image as
    reference" added four references of the same image."""
    from selenium.webdriver.common.keys import Keys

    def focused() -> str | None:
        return page.driver.execute_script("return document.activeElement.getAttribute('aria-label')")

    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    page.choose("every region: blend toward", "00003")
    slider = page.find('input[aria-label="every region: blend"]')
    start = int(slider.get_attribute("value"))
    slider.send_keys(Keys.ARROW_LEFT)
    page.settle()
    page.driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    page.settle()
    assert focused() == "every region: blend"
    assert int(page.find('input[aria-label="every region: blend"]').get_attribute("value")) == start - 3

    page.find('button[aria-label="every region: style from"]').send_keys(Keys.ENTER)
    page.find('#picker .tile[aria-label="00003"]').send_keys(Keys.ENTER)
    page.settle()
    assert focused() == "every region: style from"

    page.driver.execute_script("for (let i = 0; i < 4; i++) document.querySelector('#snapshot').click()")
    page.settle()
    assert page.find("#refs").text.count("image seed") == 1, page.find("#refs").text


@pytest.mark.slow
@needs_browser
def test_leaving_the_page_with_unsaved_work_asks_first(page, data):
    """A reload or a closed tab lost every edit and reference without a word; the browser now asks (its
    beforeunload dialog) when there is work since the start or the last saved state, and not otherwise."""
    leaving = ("const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e);"
               "return e.defaultPrevented;")
    assert page.driver.execute_script(leaving) is False  # the start: nothing to lose
    page.key("d")  # a new seed: an edit
    page.settle()
    assert page.driver.execute_script(leaving) is True
    page.download("#save-state", ".json")
    assert page.driver.execute_script(leaving) is False
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    assert page.driver.execute_script(leaving) is True


@pytest.mark.slow
@needs_browser
def test_a_seed_out_of_range_is_said_until_a_valid_one_is_given(page):
    """The message about a seed out of range stayed on the page after a valid seed made a new image."""
    def type_seed(text: str) -> None:
        page.driver.execute_script(
            "const s = document.querySelector('#seed'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('change', {bubbles: true}));", text)
        page.settle()

    type_seed("-5")
    assert "the seed must be a whole number" in page.message()
    type_seed("4294967296")
    assert page.message() is None
    assert page.find("#seed").get_attribute("value") == "4294967296"


@pytest.mark.slow
@needs_browser
def test_a_touch_drag_pans_the_zoomed_image_on_a_phone(browser):
    """On a touch screen the browser took a drag over the zoomed image to scroll the page: the view moved a
    few pixels, the page a hundred."""
    browser.resize(390, 844, mobile=True)
    try:
        browser.driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
        browser.open()
        browser.driver.execute_script("document.querySelector('#zoom-in').scrollIntoView({block: 'center'})")
        browser.click("#zoom-in")
        browser.click("#zoom-in")
        browser.driver.execute_script("document.querySelector('#output-wrap').scrollIntoView({block: 'center'})")
        view = "return [getComputedStyle(document.querySelector('#output-wrap .view')).transform, window.scrollY]"
        before, scrolled = browser.driver.execute_script(view)
        box = browser.box("#output-wrap")
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        def touch(kind: str, dx: float = 0, dy: float = 0) -> None:
            points = [] if kind == "touchEnd" else [{"x": x + dx, "y": y + dy}]
            browser.driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart")
        for step in range(1, 7):
            touch("touchMove", -10 * step, -10 * step)
        touch("touchEnd")
        after, scrolled_after = browser.driver.execute_script(view)
        assert scrolled_after == scrolled, "the page scrolled instead"
        assert after != before, "the view did not pan"
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        browser.resize(*VIEWPORT)


@pytest.mark.slow
@needs_browser
def test_the_style_choice_is_walked_with_arrows_and_left_with_tab(page, data):
    """Tab walked out of an open style choice to the top of the page and left the pop-over open; arrow keys
    did nothing there."""
    from selenium.webdriver.common.keys import Keys

    def focused() -> str | None:
        return page.driver.execute_script("return document.activeElement.getAttribute('aria-label')")

    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    page.find('button[aria-label="every region: style from"]').send_keys(Keys.ENTER)
    tiles = [t.get_attribute("aria-label") for t in page.driver.find_elements("css selector", "#picker .tile")]
    assert len(tiles) >= 2 and focused() in tiles
    first = tiles.index(focused())
    page.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT if first == 0 else Keys.ARROW_LEFT)
    assert focused() == tiles[1 if first == 0 else first - 1]
    for _ in range(len(tiles) + 2):  # past the last tile: the pop-over closes, the focus back on its opener
        if not page.driver.find_elements("css selector", "#picker"):
            break
        page.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert not page.driver.find_elements("css selector", "#picker")
    assert focused() == "every region: style from"


@pytest.mark.slow
@needs_browser
def test_the_status_says_a_reference_is_encoding(page, data):
    """An upload of a large photo took seconds while the status still read "ready"."""
    page.driver.execute_script(
        "window.statuses = []; new MutationObserver(() => window.statuses.push("
        "document.querySelector('#status-text').textContent)).observe(document.querySelector('#status'),"
        "{subtree: true, childList: true, characterData: true});")
    page.add_reference(data / "images/00003.png", data / "labels/00003.png")
    assert "encoding the reference…" in page.driver.execute_script("return window.statuses")
    assert page.find("#status-text").text == "ready · reference added"


@pytest.mark.slow
@needs_browser
def test_a_photo_the_server_refuses_is_named_with_the_reason(page, data, tmp_path):
    """A 12.6 MB photo under the server's 16 MB: it travels as base64 (4/3 of it), and the page showed only "the
    request body is over the server's limit of 16777216 bytes", which a person's file seems to be under. A file
    that is no image was "image: not a readable image", the request's field, not the file."""
    photo = tmp_path / "noise.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (2100, 2100, 3), np.uint8))
    size = photo.stat().st_size / 2**20
    assert 12 < size < 16
    page.add_reference(photo, data / "labels/00000.png")
    assert page.message() == (
        f"noise.png ({size:.1f} MB): too large for this server, which takes at most 16.0 MB a "
        "request, a file counting 4/3 of its size (base64): save the photo smaller (2000 pixels wide is plenty), or "
        "start sean serve with a larger --max-body-mb"
    )
    assert page.find("#ref-add").get_attribute("data-why") is None, "the same files can be tried again"
    # what the server cannot read is said of the file by its name, not of the request's field ("image: ...")
    broken = tmp_path / "holiday.jpg"
    broken.write_text("not a picture")
    page.add_reference(broken, data / "labels/00000.png")
    assert page.message() == "holiday.jpg: not a readable image (not one of the formats PNG, JPEG, BMP, WebP, TIFF)"


@pytest.mark.slow
@needs_browser
def test_a_double_click_on_a_style_tile_leaves_the_map_under_it_alone(page):
    """A tile picks on the first click of a double-click and the style choice closes: the second click landed on
    the map under it, where the region tool chose another region (a second choice opened) and the brush painted."""
    from selenium.webdriver.common.action_chains import ActionChains

    start = downloaded_label(page)
    for key in ("v", "b"):
        page.click_at("#label", 8, 8)  # the region tool: the choice opens beside the pointer, over the map
        page.key(key)
        tile = page.find('#picker .tile[aria-label="sample 00000"]')
        under = page.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return document.elementsFromPoint(r.x + r.width / 2, r.y + r.height / 2).map((e) => e.id)", tile)
        assert "label" in under, under
        ActionChains(page.driver, duration=0).double_click(tile).perform()
        page.settle()
        assert not page.driver.find_elements("css selector", "#picker"), f"{key}: another style choice opened"
        np.testing.assert_array_equal(downloaded_label(page), start)
        page.key("v")


@pytest.mark.slow  # a browser and the module's server to start
@needs_browser
def test_the_focus_rings_of_the_sample_thumbnails_show_whole(page):
    """The thumbnail clipped its own contents: the focus ring of a sample and of its + button was cut away."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ring = """const node = document.activeElement, style = getComputedStyle(node), box = node.getBoundingClientRect();
    const out = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
    const cut = [];
    for (let up = node.parentElement; up; up = up.parentElement) {
      if (getComputedStyle(up).overflow === 'visible') continue;
      const clip = up.getBoundingClientRect(), [left, top] = [clip.x + up.clientLeft, clip.y + up.clientTop];
      if (box.left - out < left || box.top - out < top || box.right + out > left + up.clientWidth
          || box.bottom + out > top + up.clientHeight) cut.push(up.className);
    }
    return [node.closest('#samples') !== null, style.outlineStyle, cut]"""
    page.driver.execute_script("document.querySelector('#open-label').focus()")
    for _ in range(8):  # each of the 4 samples and its + button
        ActionChains(page.driver).send_keys(Keys.TAB).perform()
        inside, outline, cut = page.driver.execute_script(ring)
        assert inside and outline == "solid" and not cut, (outline, cut)


@pytest.mark.slow
@needs_browser
def test_the_frames_fill_a_mid_size_window_and_the_pointer_paints_the_pixel_under_it(browser):
    """At 1280 px the frames stayed at a whole 4 screen pixels per map pixel with room for 4.75: they fill it now,
    crisp, and a click just inside either edge of a map pixel paints that pixel."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    try:
        browser.resize(1280, 800)
        browser.open()
        box = browser.box("#label")
        scale = box["width"] / 64
        assert 4.5 < scale < 5, scale
        for css in ("#label", "#output"):
            assert browser.find(css).value_of_css_property("image-rendering") == "pixelated"
        browser.select_class("square")
        browser.key("[", "[", "[", "[")  # brush size 1
        expected = np.array(downloaded_label(browser))
        actions = ActionBuilder(browser.driver, duration=0)
        for x, y in ((10, 3), (11, 3), (30, 4), (31, 5)):
            for u, v in ((x, y), (x + 1, y + 1)):  # just inside the pixel's top left corner, then its bottom right
                left = box["x"] + u * scale
                column = int(np.ceil(left)) if u == x else int(np.ceil(left)) - 1
                row = int(np.ceil(box["y"] + v * scale)) if v == y else int(np.ceil(box["y"] + v * scale)) - 1
                actions.pointer_action.move_to_location(column, row).click()
            expected[y, x] = SHAPES.class_names.index("square")
        actions.perform()
        browser.settle()
        np.testing.assert_array_equal(downloaded_label(browser), expected)
    finally:
        browser.resize(*VIEWPORT)


@pytest.mark.slow  # a browser and the module's server to start
@needs_browser
def test_the_downloaded_label_map_shows_its_colours_and_reads_back_as_its_ids(page, data, tmp_path):
    """The label map downloaded was a grey PNG of class ids, black in any image viewer. It is an indexed-colour
    PNG in the domain's palette: a viewer shows the classes' colours, and the server, the runtime and the page
    read it back as the same ids."""
    from sean_runtime.inputs import load_labels

    ids = read_raw(data / "labels/00000.png")
    path = shutil.copy(page.download("#download-label", "-label.png"), tmp_path / "label.png")
    stored = path.read_bytes()
    assert png_indexed(stored)
    at = stored.index(b"PLTE")
    assert stored[at + 4: at + 4 + int.from_bytes(stored[at - 4: at])] == bytes(np.ravel(SHAPES.palette).tolist())
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # what an image viewer shows
    np.testing.assert_array_equal(shown, SHAPES.labels_to_colors(ids))
    np.testing.assert_array_equal(SHAPES.labels_from_bytes(stored), ids)
    np.testing.assert_array_equal(load_labels(path, SHAPES, 64, 64)[0][0], ids)
    page.click("#blank")
    page.settle()
    page.upload("#open-label", path)
    page.settle()
    assert page.message() is None
    np.testing.assert_array_equal(downloaded_label(page), ids)


@pytest.mark.slow
@needs_browser
def test_on_a_phone_the_classes_brush_size_and_undo_stay_by_the_map(browser):
    """At 390 px the tools, the brush size, undo and the classes lay 900 px below the map, past the image and the
    downloads: painting took scrolling down to choose and back up to paint. They stay at the window's foot at
    any scroll, the map and the image whole above them and the page's end clear of them; wider windows keep
    them in the left panel."""
    essentials = ('[data-tool="brush"]', '#classes button[data-cls="3"]', "#size", "#undo")
    try:
        browser.resize(390, 844, True)
        browser.open()
        for scroll in (0, 10**5):  # on opening, and at the page's end
            browser.driver.execute_script("scrollTo(0, arguments[0])", scroll)
            boxes = {css: browser.box(css) for css in essentials}
            for css, box in boxes.items():
                assert 0 <= box["y"] and box["y"] + box["height"] <= 844, (scroll, css, box)
            foot = min(box["y"] for box in boxes.values())
            above = browser.box(".layout > .panel:last-child" if scroll else "#output-wrap")  # page's end, image
            assert above["y"] + above["height"] <= foot + 1, (scroll, above, foot)
        browser.driver.execute_script("scrollTo(0, 0)")
        browser.click('#classes button[data-cls="3"]')  # the brush, in class 3's colour
        assert browser.find('[data-tool="brush"]').get_attribute("aria-pressed") == "true"
        browser.drag([(10, 4)])
        browser.click("#undo")
        browser.settle()
        assert browser.find("#undo").get_attribute("data-why") == "nothing to undo yet"
        assert browser.find("#redo").get_attribute("data-why") is None, "the dab was undone"
        browser.resize(*VIEWPORT)
        browser.open()
        panel, brush = browser.box(".layout > .panel:first-child"), browser.box('[data-tool="brush"]')
        assert brush["x"] + brush["width"] <= panel["x"] + panel["width"] and brush["y"] < 860
    finally:
        browser.resize(*VIEWPORT)
