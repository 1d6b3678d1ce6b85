#!/usr/bin/env python3
"""Helpers of the dashboard test (test_dashboard.c), standard library only.

  dashboard_check.py parse FILE
      Parses FILE as HTML: every non-void element closed in order, no
      attribute or CSS that loads from another host (no http(s) URL to
      anywhere but 127.0.0.1 or localhost, no protocol-relative URL).
      Prints the problems and exits 1 if there are any.

  dashboard_check.py live CHROMIUM URL DIR
      Opens URL in headless Chromium driven over the DevTools protocol,
      waits until the page says its event stream is open, writes DIR/ready,
      then waits (30 s at most) for the page to have replaced its content
      after an event (body[data-updates] >= 1), writes the new DOM to
      DIR/live.html and a screenshot to DIR/live.png. Exit 0 on success.

  dashboard_check.py site CHROMIUM SITE DIR [PAGE]
      Checks a static site (icsctl publish site): parses every .html file
      of SITE as `parse` does, then loads each from file:// in headless
      Chromium (background networking off, every host unresolvable) with
      the page's network requests recorded: any request for anything but a
      file of SITE fails. Every link in each rendered page must name a file
      of SITE (and, with #id, an element there with that id). Writes each
      page's DOM to DIR/dom/, screenshots of index.html and of PAGE
      (default the first decision page; also at a phone's width, where it
      must not scroll sideways) to DIR/site.png, DIR/page.png and
      DIR/page-phone.png. Exit 0 on success.
"""
import base64
import html.parser
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr", "rect", "line", "polyline", "path", "circle"}
LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")
URL = re.compile(r"(?:https?:)?//[^\s\"'<>)]+")


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems = [], []

    def where(self):
        return "line %d" % self.getpos()[0]

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "href", "action", "formaction", "poster", "data", "xlink:href"):
                self.check_url(value, "%s=%r" % (name, value))
            if name == "style":
                self.check_css(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append("%s: </%s> does not close <%s>" %
                                 (self.where(), tag, self.stack[-1] if self.stack else "nothing"))
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data):
        top = self.stack[-1] if self.stack else ""
        if top == "style":
            self.check_css(data)
        elif top == "script":
            for m in URL.finditer(data):
                self.check_url(m.group(0), "script URL")

    def check_css(self, text):
        for m in re.finditer(r"url\(([^)]*)\)|@import", text):
            self.problems.append("%s: CSS loads %s" % (self.where(), m.group(0)))

    def check_url(self, url, what):
        url = url.strip()
        if url.startswith("//") or (re.match(r"^[a-z]+:", url, re.I) and not LOCAL.match(url)
                                    and not url.startswith("data:")):
            self.problems.append("%s: %s leaves the machine" % (self.where(), what))


def problems(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    c = Checker()
    c.feed(text)
    c.close()
    # Anything that looks like a URL, anywhere in the page, must be local.
    for m in re.finditer(r"https?://[^\s\"'<>)]+", text):
        if not LOCAL.match(m.group(0)):
            c.problems.append("URL to another host: %s" % m.group(0))
    if c.stack:
        c.problems.append("unclosed at the end: %s" % " ".join(c.stack))
    return c.problems


def parse(path):
    found = problems(path)
    for p in found:
        print(p)
    return 1 if found else 0


# ---- a minimal DevTools client: one websocket, text frames --------------------

class DevTools:
    def __init__(self, ws_url):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" %
                           (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("devtools closed the connection")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("devtools refused: %r" % head[:80])
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events = []

    def _recv(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("devtools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        b0, b1 = self._recv(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack(">H", self._recv(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._recv(8))[0]
        return b0 & 0x0f, self._recv(n)

    def call(self, method, **params):
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        head = bytes([0x81])
        if len(data) < 126:
            head += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        text = b""
        while True:
            op, payload = self._frame()
            if op in (1, 0):
                text += payload
                msg = json.loads(text)
                text = b""
                if "method" in msg:
                    self.events.append(msg)
                if msg.get("id") == self.next_id:
                    if "error" in msg:
                        raise RuntimeError("%s: %s" % (method, msg["error"]))
                    return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")


def start_chromium(chromium, out_dir, extra=()):
    """Headless Chromium with its DevTools port open, and a client on a new
    blank page of it."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=out_dir)
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", "--remote-debugging-port=0",
                             "--user-data-dir=" + profile, "--window-size=1280,1024"]
                            + list(extra) + ["about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        req = urllib.request.Request("http://127.0.0.1:%s/json/new?about:blank" % port,
                                     method="PUT")
        target = json.load(urllib.request.urlopen(req, timeout=10))
        return proc, DevTools(target["webSocketDebuggerUrl"])
    except Exception:
        stop_chromium(proc)
        raise


def stop_chromium(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def live(chromium, url, out_dir):
    proc, dt = start_chromium(chromium, out_dir)
    try:
        dt.call("Page.enable")
        dt.call("Page.navigate", url=url)
        deadline = time.time() + 20
        while time.time() < deadline:
            status = dt.eval("document.getElementById('status') ? "
                             "document.getElementById('status').textContent : ''") or ""
            if status.startswith("live"):
                break
            time.sleep(0.1)
        else:
            print("the page's event stream never opened (status %r)" % status)
            return 1
        open(os.path.join(out_dir, "ready"), "w").close()
        deadline = time.time() + 30
        while time.time() < deadline:
            n = dt.eval("Number(document.body.getAttribute('data-updates'))") or 0
            if n >= 1:
                break
            time.sleep(0.1)
        else:
            print("no live update arrived in 30 s")
            return 1
        time.sleep(0.3)
        with open(os.path.join(out_dir, "live.html"), "w", encoding="utf-8") as f:
            f.write(dt.eval("document.documentElement.outerHTML"))
        shot = dt.call("Page.captureScreenshot", format="png")
        with open(os.path.join(out_dir, "live.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return 0
    finally:
        stop_chromium(proc)


def load(dt, url):
    """Navigates to url and waits until the page has loaded."""
    dt.call("Page.navigate", url=url)
    deadline = time.time() + 20
    while time.time() < deadline:
        if dt.eval("document.readyState") == "complete" and \
                dt.eval("document.URL") == url:
            return True
        time.sleep(0.05)
    return False


def screenshot(dt, path):
    shot = dt.call("Page.captureScreenshot", format="png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def site(chromium, root, out_dir, shot_page=None):
    root = os.path.realpath(root)
    pages = sorted(p for p in os.listdir(root) if p.endswith(".html"))
    found = []
    for page in pages:
        found += ["%s: %s" % (page, p) for p in problems(os.path.join(root, page))]
    dom_dir = os.path.join(out_dir, "dom")
    os.makedirs(dom_dir, exist_ok=True)
    proc, dt = start_chromium(chromium, out_dir, [
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-default-browser-check", "--no-pings",
        "--host-resolver-rules=MAP * ~NOTFOUND"])
    ids, links = {}, []
    try:
        dt.call("Page.enable")
        dt.call("Network.enable")
        for page in pages:
            url = "file://" + os.path.join(root, page)
            if not load(dt, url):
                found.append("%s: did not load" % page)
                continue
            with open(os.path.join(dom_dir, page), "w", encoding="utf-8") as f:
                f.write(dt.eval("document.documentElement.outerHTML"))
            ids[page] = set(dt.eval("Array.from(document.querySelectorAll('[id]'))"
                                    ".map(function(e){return e.id;})") or [])
            for href in dt.eval("Array.from(document.querySelectorAll('[href]'))"
                                ".map(function(e){return e.getAttribute('href');})") or []:
                links.append((page, href))
            if page == "index.html":
                screenshot(dt, os.path.join(out_dir, "site.png"))
        if shot_page is None:
            shot_page = ([p for p in pages if p.startswith("decision-")] or pages)[0]
        load(dt, "file://" + os.path.join(root, shot_page))
        screenshot(dt, os.path.join(out_dir, "page.png"))
        dt.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                deviceScaleFactor=2, mobile=True)
        load(dt, "file://" + os.path.join(root, shot_page) + "?phone")
        screenshot(dt, os.path.join(out_dir, "page-phone.png"))
        if dt.eval("document.documentElement.scrollWidth > window.innerWidth + 1"):
            found.append("%s: wider than a phone's screen" % shot_page)
    finally:
        stop_chromium(proc)
    # Every request the pages made: files of the site, nothing else.
    for ev in dt.events:
        if ev.get("method") != "Network.requestWillBeSent":
            continue
        url = ev["params"]["request"]["url"].split("?")[0].split("#")[0]
        if not url.startswith("file://" + root + "/"):
            found.append("a page asked for %s" % ev["params"]["request"]["url"])
    for page, href in links:
        target, _, frag = href.partition("#")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/") or \
                ".." in target:
            found.append("%s: link %r leaves the site" % (page, href))
            continue
        target = target or page
        if not os.path.isfile(os.path.join(root, target)):
            found.append("%s: link %r names no file of the site" % (page, href))
        elif frag and frag not in ids.get(target, set()):
            found.append("%s: link %r names no element of %s" % (page, href, target))
    print("%d pages, %d links, %d requests" %
          (len(pages), len(links),
           sum(1 for e in dt.events if e.get("method") == "Network.requestWillBeSent")))
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "parse":
        sys.exit(parse(sys.argv[2]))
    if len(sys.argv) == 5 and sys.argv[1] == "live":
        sys.exit(live(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) in (5, 6) and sys.argv[1] == "site":
        sys.exit(site(*sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
