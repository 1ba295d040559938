"""Self-test of tests/e2e/standins.py: serves from a thread on a free port and checks it with
urllib, expectations computed independently from /gbif/_all and /json/_all.

    python3 tests/e2e/standins_selftest.py
"""

import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import standins  # noqa: E402

KEY = {"X-Api-Key": "s3cret-key"}
SERVER = None


def setUpModule():
    global SERVER
    SERVER = standins.serve(0, gbif_records=2000, json_records=1500, seed=7)


def tearDownModule():
    SERVER.stop()


def get(path, headers=None, base=None):
    """-> (status, headers, parsed JSON or text)."""
    url = path if path.startswith("http") else (base or SERVER.base_url) + path
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    text = raw.decode("utf-8")
    if hdrs.get("Content-Type", "").startswith("application/json"):
        return status, hdrs, json.loads(text)
    return status, hdrs, text


def ok(path, headers=None, base=None):
    status, _, body = get(path, headers, base)
    assert status == 200, (path, status, body)
    return body


def post(path, obj, base=None):
    req = urllib.request.Request((base or SERVER.base_url) + path, data=json.dumps(obj).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def instant(text):
    """ISO text -> aware datetime (independent of standins.parse_period)."""
    d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def q(**params):
    return urllib.parse.urlencode(params, doseq=True)


class JsonApis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.all = ok("/json/_all")
        cls.ids = [it["id"] for it in cls.all]

    def walk(self, family, style, size, extra=None, headers=None):
        """Every item id of one paging style, in order."""
        extra = dict(extra or {})
        seen, pages = [], 0
        if style == "page":
            page = 1
            while True:
                body = ok("%s/page?%s" % (family, q(page=page, per_page=size, **extra)), headers)
                if not body["items"]:
                    break
                self.assertEqual(body["page"], page)
                seen += [it["id"] for it in body["items"]]
                page += 1
            total = body["total"]
            self.assertEqual(total, len(seen))
        elif style == "offset":
            offset = 0
            while True:
                body = ok("%s/offset?%s" % (family, q(offset=offset, limit=size, **extra)), headers)
                rows = body["data"]["rows"]
                seen += [it["id"] for it in rows]
                offset += len(rows)
                if not rows or offset >= body["meta"]["count"]:
                    break
            self.assertEqual(body["meta"]["count"], len(seen))
        elif style == "cursor":
            cursor = None
            while True:
                params = dict(size=size, **extra)
                if cursor:
                    params["cursor"] = cursor
                body = ok("%s/cursor?%s" % (family, q(**params)), headers)
                seen += [it["id"] for it in body["results"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
                self.assertIsInstance(cursor, str)
        elif style == "next":
            url = "%s/next?%s" % (family, q(limit=size, **extra))
            while url:
                body = ok(url, headers)
                seen += [it["id"] for it in body["items"]]
                url = body["links"].get("next")
                if url:
                    self.assertTrue(url.startswith(SERVER.base_url + family + "/next?"), url)
                pages += 1
        elif style == "array":
            page = 1
            while True:
                body = ok("%s/array?%s" % (family, q(page=page, limit=size, **extra)), headers)
                self.assertIsInstance(body, list)
                if not body:
                    break
                seen += [it["id"] for it in body]
                page += 1
        return seen

    def test_item_shape(self):
        self.assertEqual(len(self.all), 1500)
        self.assertEqual(self.ids, sorted(set(self.ids)))
        it = self.all[0]
        self.assertEqual(set(it), {"id", "uuid", "espece", "cd_nom", "date", "modifie", "lon",
                                   "lat", "geometry", "nombre"})
        self.assertEqual(it["geometry"], {"type": "Point", "coordinates": [it["lon"], it["lat"]]})
        self.assertTrue(any(x["nombre"] is None for x in self.all))
        self.assertTrue(any(not x["espece"].isascii() for x in self.all))
        dt.date.fromisoformat(it["date"])
        instant(it["modifie"])

    def test_every_style_returns_every_id_once(self):
        for family, headers in (("/json", None), ("/json/keyed", KEY)):
            for style in ("page", "offset", "cursor", "next", "array"):
                for size in (37, 200, 500):
                    with self.subTest(family=family, style=style, size=size):
                        self.assertEqual(self.walk(family, style, size, headers=headers), self.ids)

    def test_modified_since(self):
        since = "2024-06-15T12:00:00+00:00"
        want = [it["id"] for it in self.all if instant(it["modifie"]) >= instant(since)]
        self.assertTrue(0 < len(want) < len(self.ids))
        for style in ("page", "offset", "cursor", "next", "array"):
            with self.subTest(style=style):
                self.assertEqual(self.walk("/json", style, 50, {"modified_since": since}), want)
        # date only = midnight UTC
        want = [it["id"] for it in self.all
                if instant(it["modifie"]) >= dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)]
        self.assertEqual(self.walk("/json/keyed", "next", 80, {"modified_since": "2025-01-01"},
                                   KEY), want)
        self.assertEqual(get("/json/page?modified_since=yesterday")[0], 400)

    def test_page_cap_200(self):
        self.assertEqual(len(ok("/json/page?per_page=500")["items"]), 200)
        self.assertEqual(len(ok("/json/offset?limit=500")["data"]["rows"]), 200)
        self.assertEqual(len(ok("/json/cursor?size=500")["results"]), 200)
        self.assertEqual(len(ok("/json/next?limit=500")["items"]), 200)
        self.assertEqual(len(ok("/json/array?limit=500")), 200)
        self.assertEqual(len(ok("/json/page")["items"]), 50)  # default page size
        self.assertEqual(get("/json/page?per_page=0")[0], 400)
        self.assertEqual(get("/json/page?page=0")[0], 400)

    def test_api_key(self):
        for path in ("/json/keyed/page", "/json/keyed/next?limit=3"):
            status, _, body = get(path)
            self.assertEqual(status, 401)
            self.assertIn("error", body)
            self.assertEqual(get(path, {"X-Api-Key": "wrong"})[0], 401)
            self.assertEqual(get(path, KEY)[0], 200)
        self.assertEqual(get("/json/nope")[0], 404)
        self.assertEqual(get("/json/cursor?cursor=!!!")[0], 400)


class Gbif(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.all = ok("/gbif/_all")
        cls.keys = [r["key"] for r in cls.all]

    def count(self, **params):
        body = ok("/gbif/v1/occurrence/search?" + q(limit=0, **params))
        self.assertEqual(body["results"], [])
        return body["count"]

    def walk(self, **params):
        keys, offset = [], 0
        while True:
            body = ok("/gbif/v1/occurrence/search?" + q(offset=offset, limit=300, **params))
            self.assertEqual(body["offset"], offset)
            self.assertEqual(body["limit"], 300)
            keys += [r["key"] for r in body["results"]]
            offset += 300
            self.assertEqual(body["endOfRecords"], body["count"] <= offset)
            if body["endOfRecords"]:
                break
        self.assertEqual(len(keys), body["count"])
        return keys

    def test_records(self):
        self.assertEqual(len(self.all), 2000)
        self.assertEqual(self.keys, sorted(set(self.keys)))
        self.assertGreater(min(self.keys), 2 ** 31)
        r = self.all[0]
        for f in ("key", "gbifID", "datasetKey", "publishingOrgKey", "occurrenceID",
                  "basisOfRecord", "occurrenceStatus", "taxonKey", "acceptedTaxonKey",
                  "speciesKey", "scientificName", "species", "countryCode", "country",
                  "lastInterpreted", "issues", "license", "recordedBy"):
            self.assertIn(f, r)
        self.assertEqual(r["gbifID"], str(r["key"]))
        self.assertEqual(len({x["datasetKey"] for x in self.all}), 3)
        ids = [x["occurrenceID"] for x in self.all]
        self.assertTrue(any(i.startswith("urn:") for i in ids))
        self.assertTrue(any(len(i) == 36 and i.count("-") == 4 for i in ids))
        self.assertTrue(any("decimalLatitude" not in x for x in self.all))
        self.assertTrue(any("eventDate" not in x for x in self.all))
        self.assertTrue(any("T" in x.get("eventDate", "") for x in self.all))
        self.assertTrue(any(len(x.get("eventDate", "")) == 10 for x in self.all))
        self.assertEqual({x.get("sex") for x in self.all}, {None, "MALE", "FEMALE"})
        self.assertEqual({x["occurrenceStatus"] for x in self.all}, {"PRESENT", "ABSENT"})
        for x in self.all:
            if "decimalLatitude" in x:
                self.assertTrue(41 < x["decimalLatitude"] < 51.5 and -5 < x["decimalLongitude"] < 9.6)
        li = [x["lastInterpreted"] for x in self.all]
        self.assertEqual(len(set(li)), len(li))
        self.assertTrue(all(l.startswith(("2023", "2024", "2025")) for l in li))
        self.assertNotEqual(li, sorted(li))  # not monotonic in key
        self.assertEqual(ok("/gbif/v1/occurrence/%d" % self.keys[5]), self.all[5])
        self.assertEqual(get("/gbif/v1/occurrence/%d" % (self.keys[5] + 1))[0], 404)

    def test_paging(self):
        self.assertEqual(self.walk(), self.keys)
        body = ok("/gbif/v1/occurrence/search")
        self.assertEqual((body["offset"], body["limit"], len(body["results"])), (0, 20, 20))
        self.assertEqual(body["facets"], [])
        self.assertFalse(body["endOfRecords"])
        body = ok("/gbif/v1/occurrence/search?limit=1000")
        self.assertEqual((body["limit"], len(body["results"])), (300, 300))
        body = ok("/gbif/v1/occurrence/search?offset=1990&limit=10")
        self.assertTrue(body["endOfRecords"])
        self.assertEqual([r["key"] for r in body["results"]], self.keys[1990:])
        body = ok("/gbif/v1/occurrence/search?offset=1989&limit=10")
        self.assertFalse(body["endOfRecords"])
        body = ok("/gbif/v1/occurrence/search?offset=5000&limit=10")
        self.assertEqual((body["results"], body["endOfRecords"], body["count"]), ([], True, 2000))
        self.assertEqual(ok("/gbif/v1/occurrence/search?limit=0")["count"], 2000)
        for bad in ("limit=x", "offset=-1", "taxonKey=abc", "basisOfRecord=FOO",
                    "hasCoordinate=maybe", "lastInterpreted=2024-13-45", "year=1990,abc"):
            status, hdrs, body = get("/gbif/v1/occurrence/search?" + bad)
            self.assertEqual(status, 400, bad)
            self.assertTrue(hdrs["Content-Type"].startswith("text/plain"))
        self.assertEqual(self.count(unknownParameter="x"), 2000)

    def test_filters(self):
        ds = sorted({r["datasetKey"] for r in self.all})
        cases = [
            ({"datasetKey": ds[0]}, lambda r: r["datasetKey"] == ds[0]),
            ({"datasetKey": ds[:2]}, lambda r: r["datasetKey"] in ds[:2]),
            ({"taxonKey": 2487879}, lambda r: 2487879 in (r["taxonKey"], r["acceptedTaxonKey"])),
            ({"taxonKey": 99990001}, lambda r: r["taxonKey"] == 99990001),
            ({"taxonKey": [2480528, 5219243]},
             lambda r: r["acceptedTaxonKey"] in (2480528, 5219243)),
            ({"taxonKey": 212}, lambda r: r["classKey"] == 212),
            ({"country": "FR"}, lambda r: r["countryCode"] == "FR"),
            ({"country": "BE"}, lambda r: False),
            ({"occurrenceStatus": "ABSENT"}, lambda r: r["occurrenceStatus"] == "ABSENT"),
            ({"basisOfRecord": "PRESERVED_SPECIMEN"},
             lambda r: r["basisOfRecord"] == "PRESERVED_SPECIMEN"),
            ({"basisOfRecord": ["PRESERVED_SPECIMEN", "HUMAN_OBSERVATION"]}, lambda r: True),
            ({"basisOfRecord": "FOSSIL_SPECIMEN"}, lambda r: False),
            ({"hasCoordinate": "false"}, lambda r: "decimalLatitude" not in r),
            ({"hasCoordinate": "true", "basisOfRecord": "PRESERVED_SPECIMEN", "datasetKey": ds},
             lambda r: "decimalLatitude" in r and r["basisOfRecord"] == "PRESERVED_SPECIMEN"),
        ]
        for params, pred in cases:
            with self.subTest(params=params):
                want = [r["key"] for r in self.all if pred(r)]
                self.assertEqual(self.count(**params), len(want))
                if params.get("country") != "FR" and len(want) < 1000:
                    self.assertEqual(self.walk(**params), want)
        self.assertGreater(self.count(taxonKey=2487879), self.count(taxonKey=99990001) > 0)
        self.assertGreater(self.count(occurrenceStatus="ABSENT"), 0)
        self.assertGreater(self.count(basisOfRecord="PRESERVED_SPECIMEN"), 0)

    def test_range_filters(self):
        utc = dt.timezone.utc

        def li(r):
            return instant(r["lastInterpreted"])

        def ev(r):
            return instant(r["eventDate"]) if "eventDate" in r else None

        d = lambda *a: dt.datetime(*a, tzinfo=utc)  # noqa: E731
        one = self.all[123]
        t = li(one)
        t_txt = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
        t_next = (t + dt.timedelta(milliseconds=1))
        t_next_txt = t_next.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t_next.microsecond // 1000)
        cases = [
            ({"lastInterpreted": "2024-01-01,2024-12-31"},
             lambda r: d(2024, 1, 1) <= li(r) < d(2025, 1, 1)),
            ({"lastInterpreted": "2025-06-01T12:00:00Z,*"}, lambda r: li(r) >= d(2025, 6, 1, 12)),
            ({"lastInterpreted": "*,2023-03-31"}, lambda r: li(r) < d(2023, 4, 1)),
            ({"lastInterpreted": "2024-03"}, lambda r: d(2024, 3, 1) <= li(r) < d(2024, 4, 1)),
            ({"lastInterpreted": ["2023-01-01,2023-01-31", "2025-12-01,*"]},
             lambda r: li(r) < d(2023, 2, 1) or li(r) >= d(2025, 12, 1)),
            ({"lastInterpreted": t_txt + ",*"}, lambda r: li(r) >= t),
            ({"lastInterpreted": "*," + t_txt}, lambda r: li(r) <= t),
            ({"lastInterpreted": t_next_txt + ",*"}, lambda r: li(r) > t),
            ({"lastInterpreted": t_txt}, lambda r: li(r) == t),
            ({"lastInterpreted": t.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(
                timespec="milliseconds") + ",*"}, lambda r: li(r) >= t),
            ({"eventDate": "2010-01-01,2010-06-30"},
             lambda r: ev(r) is not None and d(2010, 1, 1) <= ev(r) < d(2010, 7, 1)),
            ({"eventDate": "2020"}, lambda r: ev(r) is not None and ev(r).year == 2020),
            ({"year": "2005,2007"}, lambda r: 2005 <= r.get("year", 0) <= 2007),
            ({"year": 2010}, lambda r: r.get("year") == 2010),
            ({"year": "*,2002"}, lambda r: "year" in r and r["year"] <= 2002),
            ({"year": "2001,2001", "lastInterpreted": "2024-01-01,*", "hasCoordinate": "true"},
             lambda r: r.get("year") == 2001 and li(r) >= d(2024, 1, 1) and "decimalLatitude" in r),
        ]
        for params, pred in cases:
            with self.subTest(params=params):
                want = [r["key"] for r in self.all if pred(r)]
                self.assertEqual(self.count(**params), len(want))
                self.assertEqual(self.walk(**params), want)
        self.assertEqual(self.count(lastInterpreted=t_txt), 1)


class OffsetCap(unittest.TestCase):
    """GBIF refuses offset + limit > 100,000 (limit first lowered to 300)."""

    def test_150k(self):
        t0 = time.monotonic()
        srv = standins.serve(0, gbif_records=150_000, json_records=10, seed=1)
        built = time.monotonic() - t0
        try:
            self.assertLess(built, 3.0)
            base = srv.base_url
            body = ok("/gbif/v1/occurrence/search?limit=0", base=base)
            self.assertEqual(body["count"], 150_000)
            body = ok("/gbif/v1/occurrence/search?offset=99700&limit=300", base=base)
            self.assertEqual(len(body["results"]), 300)
            self.assertFalse(body["endOfRecords"])
            self.assertEqual(body["results"][-1]["key"], standins.KEY_BASE + 7 * 99_999)
            ok("/gbif/v1/occurrence/search?offset=100000&limit=0", base=base)
            for params, msg in (("offset=99701&limit=300", "99701 + 300"),
                                ("offset=99800&limit=1000", "99800 + 300"),
                                ("offset=100000&limit=1", "100000 + 1"),
                                ("offset=120000", "120000 + 20")):
                status, hdrs, text = get("/gbif/v1/occurrence/search?" + params, base=base)
                self.assertEqual(status, 400, params)
                self.assertEqual(text, "Max offset of 100000 exceeded: " + msg)
            print("\n  150,000 GBIF records generated in %.2f s" % built, file=sys.stderr)
        finally:
            srv.stop()


class Faults(unittest.TestCase):
    def setUp(self):
        post("/_control", {"reset": True})

    def tearDown(self):
        post("/_control", {"reset": True})

    def test_fail_next_retry_after(self):
        state = post("/_control", {"fail_next": [429, 503]})
        self.assertEqual(state["fail_next"], [429, 503])
        post("/_control", {"fail_next": [500]})  # appends
        s, h, b = get("/gbif/v1/occurrence/search?limit=1")
        self.assertEqual((s, h["Retry-After"], b["status"]), (429, "1", 429))
        s, h, _ = get("/json/page")
        self.assertEqual((s, h["Retry-After"]), (503, "1"))
        s, h, _ = get("/json/keyed/page")  # the fault comes before the key check
        self.assertEqual((s, h.get("Retry-After")), (500, None))
        self.assertEqual(get("/gbif/v1/occurrence/search?limit=1")[0], 200)
        ok("/gbif/_all")  # not a data route: neither counted nor faulted
        stats = ok("/_stats")
        self.assertEqual(stats["requests"], 4)
        self.assertEqual(stats["by_path"], {"/gbif/v1/occurrence/search": 2, "/json/page": 1,
                                            "/json/keyed/page": 1})
        self.assertEqual(stats["queries"], ["limit=1", "", "", "limit=1"])
        self.assertEqual(stats["statuses"], {"429": 1, "503": 1, "500": 1, "200": 1})

    def test_retrying_walk_is_exact(self):
        all_ids = [it["id"] for it in ok("/json/_all")]
        seen, offset, n, retries = [], 0, 0, 0
        while True:
            n += 1
            if n in (3, 7):
                post("/_control", {"fail_next": [503, 429]})
            s, h, body = get("/json/offset?" + q(offset=offset, limit=100))
            if s in (429, 503):
                self.assertEqual(h["Retry-After"], "1")
                retries += 1
                continue
            rows = body["data"]["rows"]
            seen += [r["id"] for r in rows]
            offset += len(rows)
            if offset >= body["meta"]["count"]:
                break
        self.assertEqual(retries, 4)
        self.assertEqual(seen, all_ids)
        self.assertEqual(ok("/_stats")["requests"], n)

    def test_delay(self):
        post("/_control", {"delay_ms": 300})
        t0 = time.monotonic()
        ok("/json/array?limit=1")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        ok("/_stats")
        self.assertLess(time.monotonic() - t0, 0.3)
        post("/_control", {"reset": True})
        t0 = time.monotonic()
        ok("/json/array?limit=1")
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_truncate(self):
        post("/_control", {"truncate_next": True})
        req = urllib.request.Request(SERVER.base_url + "/gbif/v1/occurrence/search?limit=50")
        with urllib.request.urlopen(req, timeout=30) as r:
            declared = int(r.headers["Content-Length"])
            with self.assertRaises(http.client.IncompleteRead) as cm:
                r.read()
        self.assertLess(len(cm.exception.partial), declared)
        self.assertFalse(ok("/_control")["truncate_next"])
        self.assertEqual(len(ok("/gbif/v1/occurrence/search?limit=50")["results"]), 50)

    def test_bad_control(self):
        for bad in ({"fail_next": "503"}, {"nope": 1}, {"delay_ms": -1}):
            with self.assertRaises(urllib.error.HTTPError) as cm:
                post("/_control", bad)
            self.assertEqual(cm.exception.code, 400)


class CommandLine(unittest.TestCase):
    def test_ready_and_sigterm(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.Popen([sys.executable, "-B", os.path.join(HERE, "standins.py"),
                              "--port", str(port), "--gbif-records", "50",
                              "--json-records", "20", "--seed", "3"],
                             stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            base = "http://127.0.0.1:%d" % port
            self.assertEqual(ok("/gbif/v1/occurrence/search?limit=0", base=base)["count"], 50)
            self.assertEqual(len(ok("/json/_all", base=base)), 20)
            # same seed, same data
            other = standins.serve(0, 50, 20, 3)
            try:
                self.assertEqual(ok("/gbif/_all", base=base), ok("/gbif/_all", base=other.base_url))
                self.assertEqual(ok("/json/_all", base=base), ok("/json/_all", base=other.base_url))
            finally:
                other.stop()
        finally:
            p.terminate()
            self.assertEqual(p.wait(timeout=10), 0)
            p.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
