"""Headless Chromium driven over the Chrome DevTools Protocol, standard library only.

Chromium is started with --remote-debugging-pipe: it reads commands on its fd 3 and writes
replies and events on its fd 4, each message a JSON object followed by a NUL byte. One page
target is created and attached with flatten=True, so page commands carry its "sessionId".

    with Browser() as browser:
        assert browser.goto("http://127.0.0.1:8080/") == 200
        browser.fill("input[name=user]", "alice")
        browser.submit("form#login")
        print(browser.texts("h1"), browser.cookies(), browser.js_errors)
        browser.screenshot("/tmp/page.png")

Every wait is bounded (Browser(timeout=...), or a per-call timeout) and raises BrowserTimeout
naming what it waited for. The chromium binary is $GN_FLUX_CHROMIUM if set, else Debian's.
"""

import base64
import collections
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["Browser", "BrowserError", "BrowserTimeout", "JavaScriptError", "find_chromium"]

# Debian's /usr/bin/chromium is a shell wrapper that adds flags from /etc/chromium.d (extension
# loading, GPU rasterization) and whose /dev/shm check breaks on stacked mounts; the real
# binary behind it takes exactly the flags given here.
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")

# Enough for any one test step; older events are dropped so long sessions stay small.
EVENT_LOG_SIZE = 20000

# Chromium insists on fds 3 and 4. Popen's pass_fds keeps descriptor numbers as they are, and
# preexec_fn is unsafe once threads exist (tests serve HTTP from threads), so this shim moves the
# two pipe ends onto 3 and 4, closes the originals and becomes chromium.
_PIPE_SHIM = """\
import fcntl, os, sys
commands_fd, replies_fd = int(sys.argv[1]), int(sys.argv[2])
commands_copy = fcntl.fcntl(commands_fd, fcntl.F_DUPFD_CLOEXEC, 10)
replies_copy = fcntl.fcntl(replies_fd, fcntl.F_DUPFD_CLOEXEC, 10)
for fd in (commands_fd, replies_fd):
    os.close(fd)
os.dup2(commands_copy, 3)
os.dup2(replies_copy, 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class BrowserError(RuntimeError):
    """Chromium, or the page in it, did not do what the test asked."""


class BrowserTimeout(BrowserError):
    """A bounded wait ran out; the message says what was awaited."""


class JavaScriptError(BrowserError):
    """Code run by Browser.eval threw (or rejected)."""


def find_chromium():
    """Path of the chromium binary to drive."""
    explicit = os.environ.get("GN_FLUX_CHROMIUM")
    if explicit:
        return explicit
    for candidate in CHROMIUM_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    raise BrowserError(f"no chromium found (tried {', '.join(CHROMIUM_CANDIDATES)}); "
                       "apt-get install chromium, or set GN_FLUX_CHROMIUM")


def describe_exception(details):
    """One readable line (plus JS stack, if any) from CDP exceptionDetails."""
    exception = details.get("exception") or {}
    message = exception.get("description") or exception.get("value") or details.get("text", "")
    if not isinstance(message, str):
        message = json.dumps(message)
    where = details.get("url")
    if where:
        message += f" (at {where}:{details.get('lineNumber', 0) + 1})"
    return message


class _DevToolsPipe:
    """CDP over chromium's two pipe ends: numbered commands, their replies, and an event log.

    A reader thread files replies by id and appends events (numbered by arrival) to a bounded
    log that waiters scan from a mark taken before they acted, so no event is missed in between.
    """

    def __init__(self, to_browser_fd, from_browser_fd, on_event, describe_death):
        self._to_browser_fd = to_browser_fd
        self._from_browser_fd = from_browser_fd
        self._on_event = on_event
        self._describe_death = describe_death
        self._command_ids = itertools.count(1)
        self._replies = {}
        self._events = collections.deque(maxlen=EVENT_LOG_SIZE)
        self._last_event_number = 0
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._closed_because = None
        self._reader = threading.Thread(target=self._read_messages, name="cdp-reader", daemon=True)
        self._reader.start()

    def _read_messages(self):
        parts = []
        reason = "chromium closed its DevTools pipe"
        try:
            while True:
                chunk = os.read(self._from_browser_fd, 1 << 20)
                if not chunk:
                    break
                # Screenshots are megabytes long: gather parts, join once per message.
                while (end := chunk.find(b"\0")) >= 0:
                    parts.append(chunk[:end])
                    self._dispatch(json.loads(b"".join(parts)))
                    parts, chunk = [], chunk[end + 1:]
                parts.append(chunk)
        except Exception as error:  # noqa: BLE001 - any failure here must reach the waiters
            reason = f"reading the DevTools pipe failed: {error!r}"
        with self._changed:
            self._closed_because = reason
            self._changed.notify_all()

    def _dispatch(self, message):
        with self._changed:
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                self._last_event_number += 1
                self._events.append((self._last_event_number, message))
            self._changed.notify_all()
        if "method" in message:
            self._on_event(message)

    def _raise_if_closed(self, waiting_for):
        if self._closed_because:
            raise BrowserError(f"{self._closed_because} while waiting for {waiting_for}"
                               f"{self._describe_death()}")

    def send(self, method, params=None, session_id=None, timeout=30.0):
        command_id = next(self._command_ids)
        message = {"id": command_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            try:
                while data:
                    data = data[os.write(self._to_browser_fd, data):]
            except OSError as error:
                raise BrowserError(f"cannot send {method} to chromium ({error})"
                                   f"{self._describe_death()}") from None
        deadline = time.monotonic() + timeout
        with self._changed:
            while command_id not in self._replies:
                self._raise_if_closed(f"the reply to {method}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserTimeout(f"no reply to {method} within {timeout:g}s")
                self._changed.wait(remaining)
            reply = self._replies.pop(command_id)
        if "error" in reply:
            error = reply["error"]
            details = f"{error.get('message')} {error.get('data', '')}".rstrip()
            raise BrowserError(f"{method} failed: {details}")
        return reply.get("result", {})

    def mark(self):
        """Number of the latest event; pass it as `after` to see only what comes next."""
        with self._changed:
            return self._last_event_number

    def events(self, after, matches):
        with self._changed:
            return [event for number, event in self._events if number > after and matches(event)]

    def wait_for_event(self, after, matches, waiting_for, timeout):
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for number, event in self._events:
                    if number > after and matches(event):
                        return event
                self._raise_if_closed(waiting_for)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserTimeout(f"timed out after {timeout:g}s waiting for {waiting_for}")
                self._changed.wait(remaining)

    def join_reader(self, timeout):
        self._reader.join(timeout)


class Browser:
    """One headless Chromium with one page; a context manager that kills it and its profile."""

    def __init__(self, width=1280, height=900, timeout=30):
        self.width, self.height, self.timeout = width, height, timeout
        self.js_errors = []  # uncaught exceptions and console.error() calls, as strings
        self.version = None
        self._process = None
        self._pipe = None
        self._pipe_fds = ()
        self._session_id = None
        self._main_frame_id = None
        self._work_dir = tempfile.mkdtemp(prefix="gn_flux-chromium-")
        self._log_path = os.path.join(self._work_dir, "chromium.log")
        try:
            self._start_and_attach()
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def _start_and_attach(self):
        chromium = find_chromium()
        # Old chromiums reject --headless=new; only then is plain --headless tried.
        for attempt, headless_flag in enumerate(("--headless=new", "--headless")):
            try:
                self._launch(chromium, headless_flag)
                version = self._pipe.send("Browser.getVersion", timeout=self.timeout)
                self.version = version["product"]
                break
            except BrowserError:
                if attempt == 1 or not self._chromium_exited(within=1):
                    raise
                self._kill_chromium()
        target = self._pipe.send("Target.createTarget", {"url": "about:blank"},
                                 timeout=self.timeout)
        attached = self._pipe.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True},
                                   timeout=self.timeout)
        self._session_id = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self._send(f"{domain}.enable")
        self._send("Page.setLifecycleEventsEnabled", enabled=True)  # load events with loader ids
        self._main_frame_id = self._send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        # A headless window of width x height shows a shorter page (813 of 900 px tall in
        # chromium 156): the viewport itself is set so pages see exactly width x height.
        self._set_viewport(self.width, self.height)

    def _launch(self, chromium, headless_flag):
        profile_dir = tempfile.mkdtemp(prefix="profile-", dir=self._work_dir)
        flags = [
            headless_flag,
            "--no-sandbox",  # tests run as root, where chromium's sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile_dir}",
            f"--window-size={self.width},{self.height}",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            "--no-proxy-server",  # an http_proxy in the environment must not see test traffic
            "--hide-scrollbars",  # screenshots stay the same width with or without overflow
            "--password-store=basic",  # no keyring lookup over D-Bus
            "--disable-breakpad",  # no crash dumps to collect
            "--remote-debugging-pipe",
        ]
        commands_read, commands_write = os.pipe()
        replies_read, replies_write = os.pipe()
        self._pipe_fds = (commands_write, replies_read)
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _PIPE_SHIM,
                 str(commands_read), str(replies_write), chromium, *flags, "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # Chromium writes "Crash Reports" under $XDG_CONFIG_HOME whatever the profile.
                env={**os.environ,
                     "XDG_CONFIG_HOME": self._work_dir, "XDG_CACHE_HOME": self._work_dir},
                pass_fds=(commands_read, replies_write),
                # Chromium's helpers share its process group: one kill ends them all.
                start_new_session=True,
            )
        # Only chromium may hold these ends, or its exit would never reach the reader as EOF.
        os.close(commands_read)
        os.close(replies_write)
        self._pipe = _DevToolsPipe(commands_write, replies_read,
                                   self._record_js_error, self._describe_death)

    def _chromium_exited(self, within=0.0):
        """Whether chromium has exited, waiting up to `within` seconds for it to.

        It is not reaped here, so its pid stays its process group's id until _kill_chromium.
        """
        deadline = time.monotonic() + within
        while True:
            try:
                if os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _describe_death(self):
        # The pipe closes a moment before chromium is gone.
        if self._process is None or not self._chromium_exited(within=1):
            return ""
        try:
            with open(self._log_path, "rb") as log:
                log.seek(max(0, os.path.getsize(self._log_path) - 2000))
                tail = log.read().decode(errors="replace").strip()
        except OSError:
            tail = ""
        return f"; chromium has exited, its output ends with:\n{tail}"

    def _kill_chromium(self):
        if self._process is not None:
            # Browser.close lets chromium reap its helpers itself: killed outright, they are
            # orphaned onto pid 1 and linger as zombies until it gets round to reaping them.
            if self._pipe is not None and not self._chromium_exited():
                try:
                    self._pipe.send("Browser.close", timeout=2)
                except BrowserError:
                    pass
                self._chromium_exited(within=3)
            try:  # whatever is left of the group; chromium is not reaped yet, so its pgid is ours
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state); nothing more a test can do
            self._process = None
        if self._pipe is not None:
            self._pipe.join_reader(timeout=5)
            self._pipe = None
        for fd in self._pipe_fds:
            os.close(fd)
        self._pipe_fds = ()

    def close(self):
        """Kill chromium and remove its profile; safe to call twice."""
        self._kill_chromium()
        if self._work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, method, within=None, **params):
        """A command to the page (session-scoped)."""
        return self._pipe.send(method, params, self._session_id, within or self.timeout)

    def _from_page(self, event, method):
        return event.get("method") == method and event.get("sessionId") == self._session_id

    def _record_js_error(self, event):
        if event.get("sessionId") != self._session_id:
            return
        params = event.get("params", {})
        if event["method"] == "Runtime.exceptionThrown":
            self.js_errors.append(describe_exception(params["exceptionDetails"]))
        elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
            words = [str(arg.get("value", arg.get("description", "")))
                     for arg in params.get("args", [])]
            self.js_errors.append("console.error: " + " ".join(words))

    def _wait_for_load(self, after, waiting_for, timeout=None, loader_id=None):
        """Wait for a main-frame document's load event; return its HTTP status.

        The document is loader_id's, or else the first one the main frame commits after the
        event mark `after`. Its load is recognised by loader id (Page.lifecycleEvent "load",
        which accompanies Page.loadEventFired), so a late load of an earlier document (Chrome's
        error pages load after Page.navigate has returned) is never taken for it. The status is
        that of its Document response, the last one after redirects; None for about:, data: ...
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        if loader_id is None:
            committed = self._pipe.wait_for_event(after, lambda e: (
                self._from_page(e, "Page.frameNavigated")
                and e["params"]["frame"]["id"] == self._main_frame_id),
                f"a new page after {waiting_for}", deadline - time.monotonic())
            loader_id = committed["params"]["frame"]["loaderId"]
        self._pipe.wait_for_event(after, lambda e: (
            self._from_page(e, "Page.lifecycleEvent")
            and e["params"]["name"] == "load"
            and e["params"]["frameId"] == self._main_frame_id
            and e["params"]["loaderId"] == loader_id),
            f"the load event after {waiting_for}", deadline - time.monotonic())
        responses = self._pipe.events(after, lambda e: (
            self._from_page(e, "Network.responseReceived")
            and e["params"].get("type") == "Document"
            and e["params"].get("frameId") == self._main_frame_id
            and e["params"].get("loaderId") == loader_id))
        return responses[-1]["params"]["response"]["status"] if responses else None

    def _set_viewport(self, width, height):
        self._send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                   deviceScaleFactor=1, mobile=False)

    @staticmethod
    def _select_one(css):
        """JS expression for the first element matching css, throwing a clear error if none."""
        selector = json.dumps(css)
        return (f"(document.querySelector({selector}) ?? "
                f"(() => {{ throw new Error('no element matches ' + {selector}); }})())")

    # -- navigation ------------------------------------------------------------------------

    def goto(self, url, timeout=None):
        """Navigate the page to url, wait for its load event, return the document's HTTP status."""
        after = self._pipe.mark()
        result = self._send("Page.navigate", within=timeout, url=url)
        if not result.get("loaderId"):
            return None  # same-document navigation (only the #fragment changed): no load event
        if result.get("errorText"):
            # Chrome still loads an error page; once it is in, it cannot be mistaken for the
            # load of whatever the test does next.
            try:
                self._wait_for_load(after, f"the error page for {url}", timeout, result["loaderId"])
            except BrowserTimeout:
                pass
            raise BrowserError(f"navigating to {url} failed: {result['errorText']}")
        return self._wait_for_load(after, f"navigating to {url}", timeout, result["loaderId"])

    def submit(self, form_css, timeout=None):
        """Submit a form (or the form around an element) as a user would; wait for the next page.

        requestSubmit() runs validation and submit handlers like a click on a submit button;
        returns the HTTP status of the page the submission ends on.
        """
        after = self._pipe.mark()
        self.eval(f"""(() => {{
            const element = {self._select_one(form_css)};
            const form = element instanceof HTMLFormElement
                ? element : element.form ?? element.closest('form');
            if (!form) throw new Error('no form at ' + {json.dumps(form_css)});
            form.requestSubmit ? form.requestSubmit() : form.submit();
        }})()""")
        return self._wait_for_load(after, f"submitting {form_css} (was it invalid?)", timeout)

    def click(self, css, navigate=False, timeout=None):
        """Click an element; with navigate=True, wait for the page it opens, return its status."""
        after = self._pipe.mark()
        self.eval(f"{self._select_one(css)}.click()")
        if navigate:
            return self._wait_for_load(after, f"clicking {css}", timeout)
        return None

    # -- page content ----------------------------------------------------------------------

    def eval(self, js, timeout=None):
        """Value of a JS expression in the page (promises awaited); JavaScriptError if it throws."""
        result = self._send("Runtime.evaluate", within=timeout, expression=js, returnByValue=True,
                            awaitPromise=True, userGesture=True)
        if "exceptionDetails" in result:
            error = describe_exception(result["exceptionDetails"])
            raise JavaScriptError(f"{error}\n  in: {js.strip()}")
        return result["result"].get("value")

    def wait_for(self, js, timeout=None, poll=0.05):
        """Poll until a JS expression is truthy; return its value."""
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(js)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise BrowserTimeout(f"timed out after {timeout:g}s waiting for {js} to be truthy")
            time.sleep(poll)

    def dom(self):
        """The page's HTML as it is now, after its scripts ran."""
        return self.eval("document.documentElement.outerHTML")

    def texts(self, css):
        return self.eval(f"Array.from(document.querySelectorAll({json.dumps(css)}), "
                         "e => e.innerText)")

    def attrs(self, css, name):
        return self.eval(f"Array.from(document.querySelectorAll({json.dumps(css)}), "
                         f"e => e.getAttribute({json.dumps(name)}))")

    def count(self, css):
        return self.eval(f"document.querySelectorAll({json.dumps(css)}).length")

    def fill(self, css, value):
        """Set an input's (or textarea's, select's) value and fire the events typing would."""
        self.eval(f"""(() => {{
            const field = {self._select_one(css)};
            field.value = {json.dumps(value)};
            field.dispatchEvent(new Event('input', {{bubbles: true}}));
            field.dispatchEvent(new Event('change', {{bubbles: true}}));
        }})()""")

    def cookies(self):
        """Cookies of the current page, as CDP Network.Cookie dicts (name, value, domain, ...)."""
        return self._send("Network.getCookies")["cookies"]

    def set_javascript(self, enabled):
        """Turn the page's own scripts on or off (eval and this module keep working)."""
        self._send("Emulation.setScriptExecutionDisabled", value=not enabled)

    def screenshot(self, path, full_page=True):
        """Write a PNG of the viewport, or of the whole page; return path."""
        if full_page:
            metrics = self._send("Page.getLayoutMetrics")
            content = metrics.get("cssContentSize") or metrics["contentSize"]
            # The viewport grows to the page for the capture, so nothing is clipped or scaled.
            self._set_viewport(max(self.width, math.ceil(content["width"])),
                               max(1, math.ceil(content["height"])))
            try:
                png = self._send("Page.captureScreenshot", format="png")["data"]
            finally:
                self._set_viewport(self.width, self.height)
        else:
            png = self._send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(png))
        return path
