"""Drives the real drawing page (web/) in headless Chromium against a running sketch-server.

Replays real Quick, Draw! raw drawings as mouse strokes on the canvas (DevTools
Input.dispatchMouseEvent, so positions may be fractional), then checks that the page's top guess
equals the gRPC Classify of the same raw drawing (the `sketch` CLI), that search results appear,
and that undo and clear work. Saves screenshots to OUT_DIR. Exit 0 on success, 1 on failure.

usage: page_test.py HTTP_URL SKETCH_CLI GRPC_TARGET RAW_DIR OUT_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# (file, 1-based line): drawings of different classes and sizes, some larger than the canvas.
DRAWINGS = [("apple.ndjson", 1), ("axe.ndjson", 3), ("bird.ndjson", 2), ("banana.ndjson", 2),
            ("The Eiffel Tower.ndjson", 1), ("ant.ndjson", 1)]
MARGIN = 10  # CSS px between the canvas border and the drawing


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def start_browser(profile):
    options = Options()
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--user-data-dir=" + profile, "--window-size=1200,1000",
                 "--force-device-scale-factor=1"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def grpc_guesses(cli, target, path, line):
    """gRPC Classify (the sketch CLI) of the raw drawing: [(word, probability)] of the top 5."""
    out = subprocess.run([cli, "--target", target, "--deadline-ms", "20000", "--json",
                          "classify", path, "--line", str(line), "-k", "5"],
                         check=True, capture_output=True, text=True).stdout
    return [(c["word"], c["probability"]) for c in json.loads(out.splitlines()[0])["classes"]]


def mouse(driver, kind, x, y, buttons):
    driver.execute_cdp_cmd("Input.dispatchMouseEvent", {
        "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1})


def replay(driver, canvas, strokes):
    """Draws `strokes` ([[x..], [y..], [t..]]) uniformly scaled into the canvas."""
    rect = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, height: r.height};", canvas)
    xs = [x for s in strokes for x in s[0]]
    ys = [y for s in strokes for y in s[1]]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    scale = min(1.0, (rect["width"] - 2 * MARGIN) / max(width, 1),
                (rect["height"] - 2 * MARGIN) / max(height, 1))
    left, top = rect["left"] + MARGIN - min(xs) * scale, rect["top"] + MARGIN - min(ys) * scale
    for stroke in strokes:
        points = [(left + x * scale, top + y * scale) for x, y in zip(stroke[0], stroke[1])]
        mouse(driver, "mouseMoved", points[0][0], points[0][1], 0)
        mouse(driver, "mousePressed", points[0][0], points[0][1], 1)
        for x, y in points[1:]:
            mouse(driver, "mouseMoved", x, y, 1)
        mouse(driver, "mouseReleased", points[-1][0], points[-1][1], 0)
    return scale


def wait_answered(driver):
    """Waits until the page has answered its latest change (no error) and returns its state."""
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.body.dataset.generation === document.body.dataset.answered;"))
    error = driver.find_element(By.ID, "error")
    if error.is_displayed():
        fail("the page shows an error: " + error.text)
    guesses = [(e.get_attribute("data-word"), float(e.get_attribute("data-probability")))
               for e in driver.find_elements(By.CSS_SELECTOR, "#guesses li")]
    hits = driver.find_elements(By.CSS_SELECTOR, "#hits .hit")
    return guesses, hits


def main():
    url, cli, target, raw_dir, out_dir = sys.argv[1:6]
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = start_browser(profile)
        try:
            run(driver, url, cli, target, raw_dir, out_dir)
        finally:
            driver.quit()
    print("page test passed")


def run(driver, url, cli, target, raw_dir, out_dir):
    driver.get(url + "/")
    WebDriverWait(driver, 30).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#filter option")) > 1)
    canvas = driver.find_element(By.ID, "pad")
    for name, line in DRAWINGS:
        path = os.path.join(raw_dir, name)
        with open(path) as f:
            record = json.loads(f.readlines()[line - 1])
        driver.find_element(By.ID, "clear").click()
        guesses, hits = wait_answered(driver)
        if guesses or hits:
            fail("clear left guesses or results on the page")
        scale = replay(driver, canvas, record["drawing"])
        guesses, hits = wait_answered(driver)
        expected = grpc_guesses(cli, target, path, line)
        # The server normalizes raw drawings (aligned, scaled to 0..255), so the page's drawing
        # (translated, maybe scaled, two decimals) classifies as the original: the same top
        # guess, and probabilities within rounding (a mirrored or mis-scaled drawing moves them
        # far more than this, even with a weak model).
        gap = max(abs(p - q) for (_, p), (_, q) in zip(guesses, expected))
        print(f"{name}:{line} scale {scale:.3f}: page {guesses[:2]}, gRPC {expected[:2]}, "
              f"largest probability gap {gap:.2e}")
        if len(guesses) != 5:
            fail(f"{name}: {len(guesses)} guesses shown, not 5")
        if guesses[0][0] != expected[0][0]:
            fail(f"{name}:{line}: the page's top guess {guesses[0]} is not gRPC's {expected[0]}")
        if gap > 5e-4:
            fail(f"{name}:{line}: the page's probabilities {guesses} are not gRPC's {expected}")
        if not hits:
            fail(f"{name}: no search results shown")
        slug = name.split(".")[0].replace(" ", "_")
        driver.save_screenshot(os.path.join(out_dir, f"page-{slug}.png"))

    # Thumbnails: the gallery stores its drawings, so every result draws its strokes.
    inked = driver.execute_script(
        "return [...document.querySelectorAll('#hits .hit')].map(card => {"
        "  const c = card.querySelector('canvas'); if (!c) return 0;"
        "  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "  let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; });")
    if not inked or min(inked) < 20:
        fail(f"results without a drawn thumbnail (inked pixels per result: {inked})")
    driver.save_screenshot(os.path.join(out_dir, "page-thumbnails.png"))
    # Clicking a thumbnail searches with that drawing: it comes back first, at distance ~0.
    _, hits = wait_answered(driver)
    clicked = hits[1].get_attribute("data-key-id")
    hits[1].click()
    _, hits = wait_answered(driver)
    if not hits or hits[0].get_attribute("data-key-id") != clicked:
        fail(f"clicking result #{clicked} did not search with it "
             f"(first result now #{hits[0].get_attribute('data-key-id') if hits else None})")

    # Undo removes the last stroke: the page asks again and its drawing has one stroke fewer.
    sent = lambda: driver.execute_script("return window.sketchsearchStrokes()")
    n = sent()
    driver.find_element(By.ID, "undo").click()
    wait_answered(driver)
    if sent() != n - 1:
        fail(f"undo: {sent()} strokes left of {n}")
    # Ctrl+Z does the same from the keyboard.
    canvas.send_keys("\ue009z")  # Control + z
    wait_answered(driver)
    if sent() != n - 2:
        fail(f"Ctrl+Z: {sent()} strokes left of {n}")
    # A class filter: every result is of that class.
    options = [o.get_attribute("value")
               for o in driver.find_elements(By.CSS_SELECTOR, "#filter option")][1:]
    driver.execute_script(
        "const s = document.getElementById('filter'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));", options[0])
    _, hits = wait_answered(driver)
    words = {h.get_attribute("data-word") for h in hits}
    if words != {options[0]}:
        fail(f"filter {options[0]}: results of {sorted(words)}")
    driver.save_screenshot(os.path.join(out_dir, "page-filtered.png"))
    # A server error is shown as a readable message: a filter on a word the index does not hold.
    driver.execute_script(
        "const s = document.getElementById('filter'); s.add(new Option('unicorn', 'unicorn'));"
        "s.value = 'unicorn'; s.dispatchEvent(new Event('change'));")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.body.dataset.generation === document.body.dataset.answered;"))
    error = driver.find_element(By.ID, "error")
    if not error.is_displayed() or "INVALID_ARGUMENT" not in error.text or "unicorn" not in error.text:
        fail(f"a refused search shows no readable error (shown: {error.text!r})")
    driver.save_screenshot(os.path.join(out_dir, "page-error.png"))
    driver.execute_script(
        "const s = document.getElementById('filter'); s.value = '';"
        "s.dispatchEvent(new Event('change'));")
    wait_answered(driver)
    driver.find_element(By.ID, "clear").click()
    guesses, hits = wait_answered(driver)
    if guesses or hits or sent() != 0:
        fail("clear did not empty the drawing and the results")
    # Phone width: the canvas still fits the screen.
    driver.set_window_size(390, 844)
    width = driver.execute_script(
        "return document.getElementById('pad').getBoundingClientRect().width")
    inner = driver.execute_script("return window.innerWidth")
    if not 0 < width <= inner:
        fail(f"phone width: canvas {width} px in a {inner} px window")
    driver.save_screenshot(os.path.join(out_dir, "page-phone.png"))


if __name__ == "__main__":
    main()
