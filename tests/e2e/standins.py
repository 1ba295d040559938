"""HTTP stand-ins for the remote APIs gn_flux pulls from: the GBIF occurrence search and five
generic JSON paging styles, with injectable faults. Python 3.11 standard library only.

    python3 tests/e2e/standins.py --port P [--gbif-records N] [--json-records M] [--seed S]

binds 127.0.0.1:P, prints `ready` on stdout once it listens and serves until killed (SIGTERM or
SIGINT end it cleanly). Importable: `serve(port, gbif_records, json_records, seed)` starts the
server in a daemon thread and returns it (port 0 picks a free port: `server.port`,
`server.base_url`; `server.stop()` ends it).

GBIF occurrence search, written from the public API (https://techdocs.gbif.org/en/openapi/v1/occurrence,
searchOccurrence) and the service's source (github.com/gbif/occurrence, OccurrenceSearchEsImpl):

    GET /gbif/v1/occurrence/search?limit=&offset=&<filters>
        -> {"offset", "limit" (effective), "endOfRecords", "count", "results": [...], "facets": []}
    GET /gbif/v1/occurrence/<key>       one record (404 when unknown)
    GET /gbif/_all                      every record, a bare JSON array sorted by key

  * limit defaults to 20; a limit above 300 is silently lowered to 300 (GBIF does the same and
    echoes the lowered value); limit=0 answers the count only. offset defaults to 0.
  * After that capping, offset + limit must be <= 100000, else HTTP 400, text/plain body
    "Max offset of 100000 exceeded: <offset> + <limit>" (GBIF: Preconditions.checkArgument in
    OccurrenceSearchEsImpl.search, IllegalArgumentException mapped to 400 text/plain by
    gbif-common-ws IllegalArgumentExceptionMapper).
  * endOfRecords = count <= offset + limit (gbif-api PagingResponse.isEndOfRecords).
  * Filters (repeat a parameter for OR; different parameters AND): datasetKey, taxonKey (matches
    taxonKey, acceptedTaxonKey, speciesKey and the kingdom/phylum/class keys, as GBIF matches any
    key of the classification), country (ISO code), occurrenceStatus, basisOfRecord,
    hasCoordinate (true/false), year, eventDate, lastInterpreted. year/eventDate/lastInterpreted
    take one value or a range "from,to" with "*" for an open end; both ends are inclusive at the
    precision written: "2021-01-01" covers that whole day, "2021" the whole year,
    "2021-01-01T10:11:12Z" that second, "…12.345Z" that millisecond; a value without a zone is UTC.
    Unknown parameters are ignored. Bad values (non-integer limit, unknown enum, bad date) -> 400.
  * Records: `key` = 4_000_000_000 + 7*i (above 2^31), sorted by key; fields and formats as GBIF
    returns them: absent rather than null when unknown, gbifID the key as a string, countryCode
    "FR" and country "France" (GBIF gives the country's name there), lastInterpreted like
    "2024-03-05T10:11:12.345+00:00" (distinct instants spread over 2023-2025, not monotonic in
    key), eventDate "2021-05-03T08:15:00" (no zone) or "2021-05-03" or absent.

Generic JSON APIs (M items sorted by id, ids 10, 13, 16, … with gaps):

    item = {"id", "uuid", "espece", "cd_nom", "date": "YYYY-MM-DD", "modifie": "…T…+00:00",
            "lon", "lat", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "nombre": int|null}
    GET /json/page?page=K&per_page=L     {"total", "page", "items"}            (K from 1, L default 50)
    GET /json/offset?offset=O&limit=L    {"data": {"rows"}, "meta": {"count"}}  (L default 50)
    GET /json/cursor?cursor=C&size=L     {"results", "next_cursor": str|null}   (L default 50)
    GET /json/next?after=A&limit=L       {"items", "links": {"next": absolute url}} (no "next" on the
                                         last page; L default 50)
    GET /json/array?page=K&limit=L       bare array, [] past the end            (L default 50)
    GET /json/_all                       every item, bare array
  * modified_since=ISO on every route keeps items with modifie >= value (date-only = midnight UTC);
    total/count then count the kept items.
  * Page sizes above 200 are silently lowered to 200; sizes < 1 and pages < 1 -> 400.
  * /json/keyed/<route> = the same routes, requiring header `X-Api-Key: s3cret-key` (401 JSON).

Faults and control:

    POST /_control {"reset": true, "fail_next": [503, 429, …], "delay_ms": D, "truncate_next": true}
        any subset; reset first, fail_next appends to the queue; answers the state
    GET  /_control       the state
    GET  /_stats         {"requests", "by_path", "queries" (last 50 query strings), "statuses",
                          "recent" (last 50 {"path", "query", "status"})}

"Data routes" = everything under /gbif/v1/ and /json/ except the /_all routes. Each data request
first takes the next queued status of fail_next, if any (429 and 503 carry `Retry-After: 1`; body
{"error": "injected fault", "status": s}); every data reply waits delay_ms first; truncate_next
makes the next data reply declare its full Content-Length, send half the body and close. Only data
requests are counted in /_stats; reset clears faults, delay and counters.
"""

import argparse
import base64
import calendar
import collections
import datetime as dt
import http.server
import json
import math
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid

GBIF_MAX_LIMIT = 300
GBIF_MAX_OFFSET = 100_000
GBIF_DEFAULT_LIMIT = 20
KEY_BASE = 4_000_000_000
KEY_STEP = 7
JSON_PAGE_CAP = 200
JSON_DEFAULT_SIZE = 50
API_KEY = "s3cret-key"

DAY_MS = 86_400_000
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

# Stand-in datasets (well-formed uuids, not real GBIF datasets) and their weights.
DATASETS = [
    # key, publishingOrgKey, license, occurrenceID style
    ("6a1f0c52-3b8e-4d7a-9f21-0c5e7b9d4a11", "b5c7e2f0-8d1a-4c3b-a6e9-2f4d7c8b1e03",
     "http://creativecommons.org/licenses/by/4.0/legalcode", "uuid"),
    ("0e4b9d27-71c5-4f08-b3a2-5d6c8e9f1a24", "c2d9f4a1-3e7b-4a56-8c0d-9b1e2f3a4c57",
     "http://creativecommons.org/publicdomain/zero/1.0/legalcode", "urn:catalog:MNHN:ZO:"),
    ("9c3e5f71-2a4b-4d6e-8f10-3b5c7d9e1f36", "b5c7e2f0-8d1a-4c3b-a6e9-2f4d7c8b1e03",
     "http://creativecommons.org/licenses/by-nc/4.0/legalcode", "urn:lsid:faune-france.org:obs:"),
]

_BIRD = ("Animalia", 1, "Chordata", 44, "Aves", 212)
_MAMMAL = ("Animalia", 1, "Chordata", 44, "Mammalia", 359)
_PLANT = ("Plantae", 6, "Tracheophyta", 7707728, "Magnoliopsida", 220)
# taxonKey, acceptedTaxonKey, scientificName, acceptedScientificName, status, higher ranks,
# order, family, genus, species, weight. Keys are GBIF backbone keys, except 99990001: a stand-in
# key for the synonym usage "Parus caeruleus" (its accepted name is Cyanistes caeruleus 2487879).
TAXA = [
    (2480528, 2480528, "Aquila chrysaetos (Linnaeus, 1758)", None, "ACCEPTED", _BIRD,
     "Accipitriformes", "Accipitridae", "Aquila", "Aquila chrysaetos", 1),
    (5231190, 5231190, "Passer domesticus (Linnaeus, 1758)", None, "ACCEPTED", _BIRD,
     "Passeriformes", "Passeridae", "Passer", "Passer domesticus", 3),
    (2492462, 2492462, "Erithacus rubecula (Linnaeus, 1758)", None, "ACCEPTED", _BIRD,
     "Passeriformes", "Muscicapidae", "Erithacus", "Erithacus rubecula", 3),
    (9705453, 9705453, "Parus major Linnaeus, 1758", None, "ACCEPTED", _BIRD,
     "Passeriformes", "Paridae", "Parus", "Parus major", 2),
    (2490719, 2490719, "Turdus merula Linnaeus, 1758", None, "ACCEPTED", _BIRD,
     "Passeriformes", "Turdidae", "Turdus", "Turdus merula", 3),
    (2487879, 2487879, "Cyanistes caeruleus (Linnaeus, 1758)", None, "ACCEPTED", _BIRD,
     "Passeriformes", "Paridae", "Cyanistes", "Cyanistes caeruleus", 2),
    (99990001, 2487879, "Parus caeruleus Linnaeus, 1758", "Cyanistes caeruleus (Linnaeus, 1758)",
     "SYNONYM", _BIRD, "Passeriformes", "Paridae", "Cyanistes", "Cyanistes caeruleus", 1),
    (5219243, 5219243, "Vulpes vulpes (Linnaeus, 1758)", None, "ACCEPTED", _MAMMAL,
     "Carnivora", "Canidae", "Vulpes", "Vulpes vulpes", 2),
    (7705930, 7705930, "Sus scrofa Linnaeus, 1758", None, "ACCEPTED", _MAMMAL,
     "Artiodactyla", "Suidae", "Sus", "Sus scrofa", 1),
    (2878688, 2878688, "Quercus robur L.", None, "ACCEPTED", _PLANT,
     "Fagales", "Fagaceae", "Quercus", "Quercus robur", 2),
]
TAXON_SLOTS = [t for t, row in enumerate(TAXA) for _ in range(row[-1])]
# What a taxonKey filter value matches: the usage, its accepted taxon (= speciesKey here) and the
# kingdom/phylum/class keys.
TAXON_MATCH_KEYS = [{row[0], row[1], row[5][1], row[5][3], row[5][5]} for row in TAXA]

BASIS = ["HUMAN_OBSERVATION", "PRESERVED_SPECIMEN"]
BASIS_ENUM = {"PRESERVED_SPECIMEN", "FOSSIL_SPECIMEN", "LIVING_SPECIMEN", "OBSERVATION",
              "HUMAN_OBSERVATION", "MACHINE_OBSERVATION", "MATERIAL_SAMPLE", "LITERATURE",
              "MATERIAL_CITATION", "OCCURRENCE", "UNKNOWN"}
STATUS = ["PRESENT", "ABSENT"]
UNCERTAINTY = [None, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0]
ISSUES = [[], ["COORDINATE_ROUNDED"], ["GEODETIC_DATUM_ASSUMED_WGS84"],
          ["COORDINATE_ROUNDED", "GEODETIC_DATUM_ASSUMED_WGS84"]]
SEX = [None, "MALE", "FEMALE"]
LIFE_STAGE = [None, "ADULT", "JUVENILE"]
OBSERVERS = ["Marie Dupont", "Jean-Luc Lefèvre", "Hélène Moreau", "François Garnier",
             "Zoé Bénard", "Loïc Le Gall", "Cécile Müller", "Rémi Nguyễn"]

ESPECES = [  # (espece, cd_nom) TAXREF-style codes, stand-ins
    ("Rougegorge familier", 4001), ("Mésange charbonnière", 3764), ("Merle noir", 4117),
    ("Écureuil roux", 61153), ("Renard roux", 60585), ("Chevreuil européen", 61057),
    ("Sanglier", 60981), ("Chêne pédonculé", 116759), ("Pic épeiche", 3611),
    ("Hérisson d'Europe", 53716), ("Aigle royal", 2645), ("Moineau domestique", 4525),
]

LI_START_MS = calendar.timegm((2023, 1, 1, 0, 0, 0)) * 1000  # lastInterpreted: 2023 .. 2025
LI_SPAN_MS = calendar.timegm((2026, 1, 1, 0, 0, 0)) * 1000 - LI_START_MS
EV_FIRST = dt.date(2000, 1, 1).toordinal()
EV_LAST = dt.date(2024, 12, 31).toordinal()


def _coprime_step(n, start):
    p = start
    while math.gcd(p, n) != 1:
        p += 1
    return p


def iso_ms(ms):
    """Epoch ms -> '2024-03-05T10:11:12.345+00:00' (GBIF's lastInterpreted format)."""
    s, frac = divmod(ms, 1000)
    t = time.gmtime(s)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00" % (t[0], t[1], t[2], t[3], t[4], t[5], frac)


# ----------------------------------------------------------------------------------- dates

_ISO = re.compile(
    r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$")


def parse_period(text):
    """An ISO date/time of any precision -> [start_ms, end_ms) in UTC. ValueError if invalid."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError("invalid date: %r" % text)
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    y = int(y)
    if mo is None:
        start = dt.datetime(y, 1, 1)
        end = dt.datetime(y + 1, 1, 1)
    elif d is None:
        mo = int(mo)
        start = dt.datetime(y, mo, 1)
        end = dt.datetime(y + (mo == 12), mo % 12 + 1, 1)
    elif hh is None:
        start = dt.datetime(y, int(mo), int(d))
        end = start + dt.timedelta(days=1)
    else:
        start = dt.datetime(y, int(mo), int(d), int(hh), int(mi), int(ss or 0))
        if ss is None:
            unit = dt.timedelta(minutes=1)
        elif frac is None:
            unit = dt.timedelta(seconds=1)
        else:
            digits = min(len(frac), 3)
            start += dt.timedelta(milliseconds=int(frac[:3].ljust(3, "0")))
            unit = dt.timedelta(milliseconds=10 ** (3 - digits))
        end = start + unit
        if zone and zone not in ("Z", "z"):
            sign = -1 if zone[0] == "-" else 1
            digits_only = zone[1:].replace(":", "")
            off = dt.timedelta(hours=int(digits_only[:2]), minutes=int(digits_only[2:] or 0))
            start -= sign * off
            end -= sign * off
    epoch = dt.datetime(1970, 1, 1)
    return ((start - epoch) // dt.timedelta(milliseconds=1),
            (end - epoch) // dt.timedelta(milliseconds=1))


def parse_range(text, parse_one):
    """'a' | 'a,b' | '*,b' | 'a,*' -> (lo, hi_exclusive) using parse_one(v) -> (start, end)."""
    parts = text.split(",")
    if len(parts) == 1:
        if parts[0].strip() == "*":
            return (None, None)
        return parse_one(parts[0])
    if len(parts) != 2:
        raise ValueError("invalid range: %r" % text)
    a, b = (p.strip() for p in parts)
    lo = None if a in ("*", "") else parse_one(a)[0]
    hi = None if b in ("*", "") else parse_one(b)[1]
    return (lo, hi)


def _year_period(text):
    y = int(text.strip())
    return (y, y + 1)


class BadRequest(Exception):
    pass


# ----------------------------------------------------------------------------------- GBIF

class GbifData:
    """N occurrence records held as columns; the JSON objects are built when served."""

    def __init__(self, n, seed):
        self.n = n
        rng = random.Random("gbif:%d" % seed)
        r = rng.random
        ds_c, tx_c, basis_c, status_c, coord_c, lat_c, lon_c, unc_c = ([] for _ in range(8))
        evk_c, ev_c, year_c, cnt_c, sex_c, stage_c, obs_c, iss_c = ([] for _ in range(8))
        slots = TAXON_SLOTS
        nslots = len(slots)
        ev_span = EV_LAST - EV_FIRST + 1
        fromordinal = dt.date.fromordinal
        for _ in range(n):
            u = r()
            ds = 0 if u < 0.5 else (1 if u < 0.65 else 2)
            ds_c.append(ds)
            tx_c.append(slots[int(r() * nslots)])
            basis_c.append(1 if ds == 1 and r() < 0.5 else 0)
            status_c.append(1 if r() < 0.02 else 0)
            has = r() >= 0.05
            coord_c.append(has)
            if has:
                lat_c.append(round(44.0 + 4.5 * r(), 5))
                lon_c.append(round(5.5 * r(), 5))
                unc_c.append(int(r() * len(UNCERTAINTY)))
                u = r()
                iss_c.append(0 if u < 0.85 else (1 if u < 0.93 else (2 if u < 0.98 else 3)))
            else:
                lat_c.append(None)
                lon_c.append(None)
                unc_c.append(0)
                iss_c.append(0)
            u = r()
            if u < 0.04:
                evk_c.append(0)
                ev_c.append(None)
                year_c.append(None)
            else:
                o = EV_FIRST + int(r() * ev_span)
                ms = (o - EPOCH_ORDINAL) * DAY_MS
                if u < 0.45:
                    evk_c.append(1)
                else:
                    evk_c.append(2)
                    ms += int(r() * 86400) * 1000
                ev_c.append(ms)
                year_c.append(fromordinal(o).year)
            u = r()
            cnt_c.append(None if u < 0.25 else 1 + int(u * u * 30))
            u = r()
            sex_c.append(0 if u < 0.7 else (1 if u < 0.85 else 2))
            u = r()
            stage_c.append(0 if u < 0.6 else (1 if u < 0.9 else 2))
            obs_c.append(int(r() * len(OBSERVERS)))
        self.ds, self.taxon, self.basis, self.status = ds_c, tx_c, basis_c, status_c
        self.has_coord, self.lat, self.lon, self.unc = coord_c, lat_c, lon_c, unc_c
        self.ev_kind, self.ev, self.year = evk_c, ev_c, year_c
        self.count, self.sex, self.stage, self.observer, self.issues = (
            cnt_c, sex_c, stage_c, obs_c, iss_c)
        # lastInterpreted: slot k = (i * p) mod n (a permutation, so not monotonic in key) of n
        # even slots over 2023-2025, plus a jitter inside the slot: distinct instants with
        # varied milliseconds.
        step = max(1, LI_SPAN_MS // max(n, 1))
        p = _coprime_step(max(n, 1), 7919 + (seed % 1000))
        jit = 2654435761 + seed * 40503
        li = []
        for i in range(n):
            k = (i * p) % n
            li.append(LI_START_MS + k * step + (k * jit) % step)
        self.li = li
        self.salt = (seed * 0x9E3779B97F4A7C15 + 0x5BD1E995) & 0xFFFFFFFFFFFFFFFF
        self._cache = collections.OrderedDict()
        self._lock = threading.Lock()

    def _mix(self, i):
        z = (i * 0x9E3779B97F4A7C15 + self.salt) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def key(self, i):
        return KEY_BASE + KEY_STEP * i

    def index_of_key(self, key):
        i, rem = divmod(key - KEY_BASE, KEY_STEP)
        return i if rem == 0 and 0 <= i < self.n else None

    def record(self, i):
        key = KEY_BASE + KEY_STEP * i
        ds_key, org, lic, id_style = DATASETS[self.ds[i]]
        (tkey, akey, sname, aname, tstatus, higher, order, family, genus, species,
         _w) = TAXA[self.taxon[i]]
        if id_style == "uuid":
            occ_id = str(uuid.UUID(int=(self._mix(i) << 64) | self._mix(i + 0x5F3759DF), version=4))
        else:
            occ_id = "%s%d" % (id_style, 100000 + i)
        rec = {
            "key": key,
            "datasetKey": ds_key,
            "publishingOrgKey": org,
            "publishingCountry": "FR",
            "protocol": "DWC_ARCHIVE",
            "extensions": {},
            "basisOfRecord": BASIS[self.basis[i]],
            "occurrenceStatus": STATUS[self.status[i]],
            "taxonKey": tkey,
            "kingdomKey": higher[1],
            "phylumKey": higher[3],
            "classKey": higher[5],
            "speciesKey": akey,
            "acceptedTaxonKey": akey,
            "scientificName": sname,
            "acceptedScientificName": aname or sname,
            "kingdom": higher[0],
            "phylum": higher[2],
            "order": order,
            "family": family,
            "genus": genus,
            "species": species,
            "genericName": sname.split()[0],
            "specificEpithet": sname.split()[1],
            "taxonRank": "SPECIES",
            "taxonomicStatus": tstatus,
        }
        if self.has_coord[i]:
            rec["decimalLatitude"] = self.lat[i]
            rec["decimalLongitude"] = self.lon[i]
            unc = UNCERTAINTY[self.unc[i]]
            if unc is not None:
                rec["coordinateUncertaintyInMeters"] = unc
        rec["continent"] = "EUROPE"
        kind = self.ev_kind[i]
        if kind:
            ms = self.ev[i]
            t = time.gmtime(ms // 1000)
            rec["year"], rec["month"], rec["day"] = t[0], t[1], t[2]
            if kind == 1:
                rec["eventDate"] = "%04d-%02d-%02d" % (t[0], t[1], t[2])
            else:
                rec["eventDate"] = "%04d-%02d-%02dT%02d:%02d:%02d" % t[:6]
        rec["issues"] = list(ISSUES[self.issues[i]])
        rec["lastInterpreted"] = iso_ms(self.li[i])
        rec["license"] = lic
        rec["identifiers"] = []
        rec["media"] = []
        rec["facts"] = []
        rec["relations"] = []
        rec["isInCluster"] = False
        rec["recordedBy"] = OBSERVERS[self.observer[i]]
        if self.count[i] is not None:
            rec["individualCount"] = self.count[i]
        if self.sex[i]:
            rec["sex"] = SEX[self.sex[i]]
        if self.stage[i]:
            rec["lifeStage"] = LIFE_STAGE[self.stage[i]]
        rec["class"] = higher[4]
        rec["countryCode"] = "FR"
        rec["country"] = "France"
        rec["gbifID"] = str(key)
        rec["occurrenceID"] = occ_id
        return rec

    # -- search

    FILTERS = ("datasetKey", "taxonKey", "country", "occurrenceStatus", "basisOfRecord",
               "hasCoordinate", "year", "eventDate", "lastInterpreted")

    def select(self, params):
        """Indices (ascending key) of the records matching the filters in params."""
        wanted = []
        for name in self.FILTERS:
            vals = tuple(sorted(v for v in params.get(name, []) if v.strip() != ""))
            if vals:
                wanted.append((name, vals))
        cache_key = tuple(wanted)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                self._cache.move_to_end(cache_key)
                return hit
        idx = range(self.n)
        for name, vals in wanted:
            idx = getattr(self, "_f_" + name)(idx, vals)
        idx = idx if isinstance(idx, list) else list(idx)
        with self._lock:
            self._cache[cache_key] = idx
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return idx

    @staticmethod
    def _in(idx, col, allowed):
        return [i for i in idx if col[i] in allowed]

    @staticmethod
    def _ranges(idx, col, ranges):
        out = []
        for i in idx:
            v = col[i]
            if v is None:
                continue
            for lo, hi in ranges:
                if (lo is None or v >= lo) and (hi is None or v < hi):
                    out.append(i)
                    break
        return out

    def _f_datasetKey(self, idx, vals):
        wanted = {v.strip().lower() for v in vals}
        allowed = {d for d, row in enumerate(DATASETS) if row[0] in wanted}
        return self._in(idx, self.ds, allowed)

    def _f_taxonKey(self, idx, vals):
        try:
            keys = {int(v) for v in vals}
        except ValueError:
            raise BadRequest("Invalid taxonKey: %s" % ",".join(vals))
        allowed = {t for t, match in enumerate(TAXON_MATCH_KEYS) if match & keys}
        return self._in(idx, self.taxon, allowed)

    def _f_country(self, idx, vals):
        return list(idx) if "FR" in {v.strip().upper() for v in vals} else []

    def _f_occurrenceStatus(self, idx, vals):
        allowed = set()
        for v in vals:
            v = v.strip().upper()
            if v not in STATUS:
                raise BadRequest("Invalid occurrenceStatus: %s" % v)
            allowed.add(STATUS.index(v))
        return self._in(idx, self.status, allowed)

    def _f_basisOfRecord(self, idx, vals):
        allowed = set()
        for v in vals:
            v = v.strip().upper()
            if v not in BASIS_ENUM:
                raise BadRequest("Invalid basisOfRecord: %s" % v)
            if v in BASIS:
                allowed.add(BASIS.index(v))
        return self._in(idx, self.basis, allowed)

    def _f_hasCoordinate(self, idx, vals):
        allowed = set()
        for v in vals:
            v = v.strip().lower()
            if v not in ("true", "false"):
                raise BadRequest("Invalid hasCoordinate: %s" % v)
            allowed.add(v == "true")
        return self._in(idx, self.has_coord, allowed)

    def _range_filter(self, idx, vals, col, parse_one, name):
        try:
            ranges = [parse_range(v, parse_one) for v in vals]
        except (ValueError, OverflowError):
            raise BadRequest("Invalid %s: %s" % (name, ",".join(vals)))
        return self._ranges(idx, col, ranges)

    def _f_year(self, idx, vals):
        return self._range_filter(idx, vals, self.year, _year_period, "year")

    def _f_eventDate(self, idx, vals):
        return self._range_filter(idx, vals, self.ev, parse_period, "eventDate")

    def _f_lastInterpreted(self, idx, vals):
        return self._range_filter(idx, vals, self.li, parse_period, "lastInterpreted")


def gbif_search(data, params):
    """-> (status, content_type, body_obj_or_text)."""
    def one_int(name, default):
        vals = params.get(name)
        if not vals or vals[0].strip() == "":
            return default
        try:
            return int(vals[0])
        except ValueError:
            raise BadRequest("Invalid %s: %s" % (name, vals[0]))

    limit = one_int("limit", GBIF_DEFAULT_LIMIT)
    offset = one_int("offset", 0)
    if limit < 0 or offset < 0:
        raise BadRequest("limit and offset must be >= 0")
    limit = min(limit, GBIF_MAX_LIMIT)
    if offset + limit > GBIF_MAX_OFFSET:
        raise BadRequest("Max offset of %d exceeded: %d + %d" % (GBIF_MAX_OFFSET, offset, limit))
    idx = data.select(params)
    count = len(idx)
    results = [data.record(i) for i in idx[offset:offset + limit]] if limit else []
    return {"offset": offset, "limit": limit, "endOfRecords": count <= offset + limit,
            "count": count, "results": results, "facets": []}


# ----------------------------------------------------------------------------------- JSON APIs

class JsonData:
    def __init__(self, m, seed):
        rng = random.Random("json:%d" % seed)
        r = rng.random
        start = calendar.timegm((2023, 1, 1, 0, 0, 0))
        span = calendar.timegm((2026, 1, 1, 0, 0, 0)) - start
        step = max(1, span // max(m, 1))
        p = _coprime_step(max(m, 1), 104729 + (seed % 1000))
        d0 = dt.date(2015, 1, 1).toordinal()
        self.items, self.modified_ms = [], []
        for i in range(m):
            esp, cd = ESPECES[int(r() * len(ESPECES))]
            lon = round(-1.0 + 8.0 * r(), 6)
            lat = round(43.5 + 5.5 * r(), 6)
            u = r()
            secs = start + ((i * p) % m) * step
            t = time.gmtime(secs)
            item = {
                "id": 10 + 3 * i,
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "espece": esp,
                "cd_nom": cd,
                "date": dt.date.fromordinal(d0 + int(r() * 3650)).isoformat(),
                "modifie": "%04d-%02d-%02dT%02d:%02d:%02d+00:00" % t[:6],
                "lon": lon,
                "lat": lat,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "nombre": None if u < 0.2 else 1 + int(u * 40),
            }
            self.items.append(item)
            self.modified_ms.append(secs * 1000)
        self.ids = [it["id"] for it in self.items]
        self._cache = {}
        self._lock = threading.Lock()

    def select(self, params):
        vals = [v for v in params.get("modified_since", []) if v.strip()]
        if not vals:
            return self.items
        try:
            since = parse_period(vals[0])[0]
        except (ValueError, OverflowError):
            raise BadRequest("invalid modified_since: %s" % vals[0])
        with self._lock:
            hit = self._cache.get(since)
        if hit is None:
            hit = [it for it, ms in zip(self.items, self.modified_ms) if ms >= since]
            with self._lock:
                if len(self._cache) > 32:
                    self._cache.clear()
                self._cache[since] = hit
        return hit


def _int_param(params, name, default, minimum):
    vals = params.get(name)
    if not vals or vals[0].strip() == "":
        return default
    try:
        v = int(vals[0])
    except ValueError:
        raise BadRequest("invalid %s: %s" % (name, vals[0]))
    if v < minimum:
        raise BadRequest("%s must be >= %d" % (name, minimum))
    return v


def _size(params, name):
    return min(_int_param(params, name, JSON_DEFAULT_SIZE, 1), JSON_PAGE_CAP)


def encode_cursor(last_id):
    return base64.urlsafe_b64encode(("after:%d" % last_id).encode()).decode().rstrip("=")


def decode_cursor(c):
    try:
        raw = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode()
        tag, _, v = raw.partition(":")
        if tag != "after":
            raise ValueError
        return int(v)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid cursor")


def _after(items, after_id):
    """Position of the first item with id > after_id (items sorted by id)."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid]["id"] <= after_id:
            lo = mid + 1
        else:
            hi = mid
    return lo


def json_route(data, route, params, base_url, prefix):
    """The reply object of /json/<route> (prefix: "/json" or "/json/keyed"), None if unknown."""
    items = data.select(params)
    if route == "page":
        page = _int_param(params, "page", 1, 1)
        size = _size(params, "per_page")
        return {"total": len(items), "page": page,
                "items": items[(page - 1) * size:page * size]}
    if route == "offset":
        offset = _int_param(params, "offset", 0, 0)
        size = _size(params, "limit")
        return {"data": {"rows": items[offset:offset + size]}, "meta": {"count": len(items)}}
    if route == "cursor":
        size = _size(params, "size")
        c = (params.get("cursor") or [""])[0]
        start = _after(items, decode_cursor(c)) if c else 0
        page = items[start:start + size]
        more = start + size < len(items)
        return {"results": page, "next_cursor": encode_cursor(page[-1]["id"]) if more else None}
    if route == "next":
        size = _size(params, "limit")
        a = (params.get("after") or [""])[0]
        if a:
            try:
                start = _after(items, int(a))
            except ValueError:
                raise BadRequest("invalid after: %s" % a)
        else:
            start = 0
        page = items[start:start + size]
        links = {}
        if start + size < len(items):
            q = {"after": page[-1]["id"], "limit": size}
            ms = [v for v in params.get("modified_since", []) if v.strip()]
            if ms:
                q["modified_since"] = ms[0]
            links["next"] = "%s%s/next?%s" % (base_url, prefix, urllib.parse.urlencode(q))
        return {"items": page, "links": links}
    if route == "array":
        page = _int_param(params, "page", 1, 1)
        size = _size(params, "limit")
        return items[(page - 1) * size:page * size]
    return None


# ----------------------------------------------------------------------------------- server

class Control:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.fail_next = collections.deque()
        self.delay_ms = 0
        self.truncate_next = False
        self.requests = 0
        self.by_path = collections.Counter()
        self.statuses = collections.Counter()
        self.queries = collections.deque(maxlen=50)
        self.recent = collections.deque(maxlen=50)

    def state(self):
        return {"fail_next": list(self.fail_next), "delay_ms": self.delay_ms,
                "truncate_next": self.truncate_next}

    def stats(self):
        return {"requests": self.requests, "by_path": dict(self.by_path),
                "queries": list(self.queries), "statuses": {str(k): v for k, v in self.statuses.items()},
                "recent": list(self.recent)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gn-flux-standins/1"
    timeout = 120

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standins: " + (fmt % args) + "\n")

    # -- replies

    def _send(self, status, body, content_type, headers=(), truncate=False):
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _json(self, status, obj, headers=(), truncate=False):
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        self._send(status, body, "application/json; charset=utf-8", headers, truncate)

    # -- dispatch

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        ctl = self.server.control
        if path == "/_control":
            return self._control(method)
        if path == "/_stats":
            with ctl.lock:
                return self._json(200, ctl.stats())
        if method != "GET":
            return self._json(405, {"error": "method not allowed"})
        if path == "/gbif/_all":
            d = self.server.gbif
            return self._json(200, [d.record(i) for i in range(d.n)])
        if path == "/json/_all":
            return self._json(200, self.server.json.items)
        is_gbif = path.startswith("/gbif/v1/")
        if not (is_gbif or path.startswith("/json/")):
            return self._json(404, {"error": "no such route", "path": path})

        # A data route: count it, then faults.
        with ctl.lock:
            fault = ctl.fail_next.popleft() if ctl.fail_next else None
            truncate = False
            if fault is None and ctl.truncate_next:
                truncate, ctl.truncate_next = True, False
            delay = ctl.delay_ms
        status = self._data(path, params, is_gbif, fault, truncate, delay)
        with ctl.lock:
            ctl.requests += 1
            ctl.by_path[path] += 1
            ctl.statuses[status] += 1
            ctl.queries.append(query)
            ctl.recent.append({"path": path, "query": query, "status": status})

    def _data(self, path, params, is_gbif, fault, truncate, delay):
        if delay:
            time.sleep(delay / 1000.0)
        if fault is not None:
            headers = [("Retry-After", "1")] if fault in (429, 503) else []
            self._json(fault, {"error": "injected fault", "status": fault}, headers)
            return fault
        try:
            if is_gbif:
                return self._gbif(path, params, truncate)
            return self._jsonapi(path, params, truncate)
        except BadRequest as e:
            if is_gbif:
                self._send(400, str(e), "text/plain; charset=utf-8")
            else:
                self._json(400, {"error": str(e)})
            return 400

    def _gbif(self, path, params, truncate):
        d = self.server.gbif
        if path == "/gbif/v1/occurrence/search":
            self._json(200, gbif_search(d, params), truncate=truncate)
            return 200
        m = re.fullmatch(r"/gbif/v1/occurrence/(\d+)", path)
        if m:
            i = d.index_of_key(int(m.group(1)))
            if i is not None:
                self._json(200, d.record(i), truncate=truncate)
                return 200
        self._send(404, "Not Found", "text/plain; charset=utf-8")
        return 404

    def _jsonapi(self, path, params, truncate):
        rest = path[len("/json/"):]
        prefix = ""
        if rest.startswith("keyed/"):
            rest, prefix = rest[len("keyed/"):], "/keyed"
            if self.headers.get("X-Api-Key") != API_KEY:
                self._json(401, {"error": "missing or invalid API key (header X-Api-Key)"})
                return 401
        reply = json_route(self.server.json, rest, params, self.server.base_url, "/json" + prefix)
        if reply is None:
            self._json(404, {"error": "no such route", "path": path})
            return 404
        self._json(200, reply, truncate=truncate)
        return 200

    def _control(self, method):
        ctl = self.server.control
        if method == "GET":
            with ctl.lock:
                return self._json(200, ctl.state())
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            cmd = json.loads(raw or b"{}")
            if not isinstance(cmd, dict):
                raise ValueError("a JSON object is expected")
            unknown = set(cmd) - {"reset", "fail_next", "delay_ms", "truncate_next"}
            if unknown:
                raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
            fails = cmd.get("fail_next", [])
            if not isinstance(fails, list) or not all(
                    isinstance(s, int) and 100 <= s <= 599 for s in fails):
                raise ValueError("fail_next: a list of HTTP statuses")
            delay = cmd.get("delay_ms")
            if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
                raise ValueError("delay_ms: a number >= 0")
        except ValueError as e:
            return self._json(400, {"error": str(e)})
        with ctl.lock:
            if cmd.get("reset"):
                ctl.reset()
            ctl.fail_next.extend(fails)
            if delay is not None:
                ctl.delay_ms = delay
            if "truncate_next" in cmd:
                ctl.truncate_next = bool(cmd["truncate_next"])
            state = ctl.state()
        return self._json(200, state)


class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, gbif_records, json_records, seed, verbose=False):
        self.gbif = GbifData(gbif_records, seed)
        self.json = JsonData(json_records, seed)
        self.control = Control()
        self.verbose = verbose
        super().__init__(("127.0.0.1", port), Handler)
        self.port = self.server_address[1]
        self.base_url = "http://127.0.0.1:%d" % self.port
        self.thread = None

    def stop(self):
        self.shutdown()
        self.server_close()


def serve(port, gbif_records=2000, json_records=1500, seed=0, verbose=False):
    """Start the stand-ins on 127.0.0.1:port (0 = any free port) in a daemon thread."""
    server = StandinServer(port, gbif_records, json_records, seed, verbose)
    server.thread = threading.Thread(target=server.serve_forever, name="standins", daemon=True)
    server.thread.start()
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--gbif-records", type=int, default=2000)
    ap.add_argument("--json-records", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = ap.parse_args(argv)
    server = serve(args.port, args.gbif_records, args.json_records, args.seed, args.verbose)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
