"""Self-test of tests/e2e/browser.py against a tiny site served from a thread on 127.0.0.1.

    python3 tests/e2e/browser_selftest.py

One chromium serves every test (starting it is most of the run time); tests that change its
state (cookies, JavaScript off) put it back or do not depend on it.
"""

import http.server
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, BrowserError, JavaScriptError  # noqa: E402

PAGES = {
    "/": """<!doctype html><html><head><title>Home</title></head><body>
        <h1>Welcome</h1>
        <ul><li>first item</li><li>second item</li></ul>
        <a id="to-private" href="/private">private</a>
        <form id="login" method="post" action="/login">
          <input name="user" required> <button>Log in</button>
        </form></body></html>""",
    "/scripted": """<!doctype html><html><body><p>static</p>
        <script>
          document.body.append(Object.assign(document.createElement('div'), {id: 'added'}));
        </script>
        </body></html>""",
    "/throws": """<!doctype html><html><body><p>broken page</p>
        <script>
          console.error('visible in the console');
          throw new Error('boom from the page');
        </script>
        </body></html>""",
}


class SiteHandler(http.server.BaseHTTPRequestHandler):
    """/ (a login form), POST /login (cookie, 303 to /private), /private (needs the cookie)."""

    def do_GET(self):
        if self.path == "/private":
            user = self._session_user()
            if user is None:
                return self._reply(403, "<h1>Forbidden</h1>")
            return self._reply(200, f"<h1>Private</h1><p id='greeting'>Hello, {user}</p>")
        if self.path in PAGES:
            return self._reply(200, PAGES[self.path])
        return self._reply(404, "<h1>Not found</h1>")

    def do_POST(self):
        if self.path != "/login":
            return self._reply(404, "<h1>Not found</h1>")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        user = urllib.parse.parse_qs(body)["user"][0]
        self.send_response(303)
        self.send_header("Set-Cookie", f"session={urllib.parse.quote(user)}; Path=/; HttpOnly")
        self.send_header("Location", "/private")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _session_user(self):
        for pair in self.headers.get("Cookie", "").split(";"):
            name, _, value = pair.strip().partition("=")
            if name == "session":
                return urllib.parse.unquote(value)
        return None

    def _reply(self, status, html):
        body = html.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # keep the test output to the results


class BrowserSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        cls.browser = Browser(timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        self.browser.js_errors.clear()

    def test_page_status_and_content(self):
        self.assertEqual(self.browser.goto(self.base + "/"), 200)
        self.assertEqual(self.browser.texts("h1"), ["Welcome"])
        self.assertEqual(self.browser.texts("li"), ["first item", "second item"])
        self.assertEqual(self.browser.count("form#login input"), 1)
        self.assertEqual(self.browser.attrs("form", "action"), ["/login"])
        self.assertEqual(self.browser.eval("[innerWidth, innerHeight]"), [1280, 900])
        self.assertIn("<title>Home</title>", self.browser.dom())
        self.assertEqual(self.browser.js_errors, [])

    def test_missing_page_status(self):
        self.assertEqual(self.browser.goto(self.base + "/nowhere"), 404)
        self.assertEqual(self.browser.texts("h1"), ["Not found"])

    def test_login_sets_cookie_and_opens_private_page(self):
        self.assertEqual(self.browser.goto(self.base + "/private"), 403)
        self.browser.goto(self.base + "/")
        self.browser.fill("input[name=user]", "alice & bob")
        self.assertEqual(self.browser.submit("form#login"), 200)
        self.assertEqual(self.browser.eval("location.pathname"), "/private")
        self.assertEqual(self.browser.texts("#greeting"), ["Hello, alice & bob"])
        cookies = {cookie["name"]: cookie for cookie in self.browser.cookies()}
        self.assertEqual(urllib.parse.unquote(cookies["session"]["value"]), "alice & bob")
        self.assertTrue(cookies["session"]["httpOnly"])
        # The cookie is kept: a plain link click reaches the private page again.
        self.browser.goto(self.base + "/")
        self.assertEqual(self.browser.click("#to-private", navigate=True), 200)
        self.assertEqual(self.browser.texts("h1"), ["Private"])

    def test_screenshot_is_a_full_page_png(self):
        self.browser.goto(self.base + "/")
        self.browser.eval("document.body.style.height = '2500px'")
        with tempfile.TemporaryDirectory() as directory:
            path = self.browser.screenshot(os.path.join(directory, "home.png"))
            with open(path, "rb") as file:
                header = file.read(24)
        self.assertEqual(header[:8], b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", header[16:24])  # IHDR comes first
        self.assertEqual(width, 1280)
        self.assertGreaterEqual(height, 2500)
        self.assertEqual(self.browser.eval("[innerWidth, innerHeight]"), [1280, 900])

    def test_pages_without_javascript(self):
        self.browser.goto(self.base + "/scripted")
        self.assertEqual(self.browser.count("#added"), 1)
        self.browser.set_javascript(False)
        try:
            self.assertEqual(self.browser.goto(self.base + "/scripted"), 200)
            self.assertEqual(self.browser.count("#added"), 0)
            self.assertEqual(self.browser.texts("p"), ["static"])
            # Forms and links need no page script: submit() and click() still drive them.
            self.browser.goto(self.base + "/")
            self.browser.fill("input[name=user]", "no-js")
            self.assertEqual(self.browser.submit("form#login"), 200)
            self.assertEqual(self.browser.texts("#greeting"), ["Hello, no-js"])
        finally:
            self.browser.set_javascript(True)

    def test_page_errors_are_collected(self):
        self.browser.goto(self.base + "/throws")
        self.browser.wait_for("document.readyState === 'complete'")
        deadline = time.monotonic() + 5  # events may trail the load event by a moment
        while len(self.browser.js_errors) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(self.browser.js_errors), 2, self.browser.js_errors)
        self.assertIn("console.error: visible in the console", self.browser.js_errors)
        self.assertTrue(any("boom from the page" in error for error in self.browser.js_errors))

    def test_failures_are_explicit(self):
        self.browser.goto(self.base + "/")
        with self.assertRaisesRegex(JavaScriptError, "nope"):
            self.browser.eval("Promise.reject(new Error('nope'))")
        with self.assertRaisesRegex(JavaScriptError, "no element matches #absent"):
            self.browser.fill("#absent", "x")
        with self.assertRaisesRegex(BrowserError, "ERR_CONNECTION_REFUSED"):
            self.browser.goto(f"http://127.0.0.1:{unused_port()}/")


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    started = time.monotonic()
    result = unittest.main(exit=False, verbosity=2).result
    print(f"browser self-test: {time.monotonic() - started:.1f}s")
    sys.exit(0 if result.wasSuccessful() else 1)
