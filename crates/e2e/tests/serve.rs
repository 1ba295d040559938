//! Serve I end to end: the API workers of a preloaded cluster answer GeoNature's export API for
//! the database `GN_FLUX_E2E_SERVE_DSN`, at `GN_FLUX_E2E_SERVE_URL` (…/geonature). Pages and
//! their shapes against SQL, the auth matrix (public, login, tokens, roles, row-level security),
//! the deletion log, file downloads, node-to-node pulls (`GN_FLUX_E2E_SERVE_NODE_DSN`, another
//! database of the same cluster), and robustness (hostile parameters, slow and idle clients,
//! workers killed). Run by tests/e2e/run.sh.
use gn_flux_e2e::fixtures::{connect, dsn};
use postgres::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SERVE_DSN: &str = "GN_FLUX_E2E_SERVE_DSN";
const SERVE_URL: &str = "GN_FLUX_E2E_SERVE_URL";
const NODE_DSN: &str = "GN_FLUX_E2E_SERVE_NODE_DSN";
const ROWS: i64 = 20_000;

/// (host:port, root path) of the served API.
fn server() -> (String, String) {
    let url = dsn(SERVE_URL);
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, root) = rest
        .split_once('/')
        .map(|(h, r)| (h, format!("/{r}")))
        .unwrap_or((rest, String::new()));
    (host.to_string(), root.trim_end_matches('/').to_string())
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw request bytes on a new connection and reads the reply (Content-Length, chunked, or
/// until close).
fn raw(request: &[u8]) -> Reply {
    let (host, _) = server();
    let mut s = TcpStream::connect(&host).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    read_reply(&mut s)
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).expect("read the reply head");
        assert!(n > 0, "the server closed before a reply head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut rest = buf[head_end..].to_vec();
    let get = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "truncated body");
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "truncated chunked body");
                rest.extend_from_slice(&chunk[..n]);
            };
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
            while rest.len() < line_end + 2 + size + 2 {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "truncated chunk");
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break body;
            }
        }
    } else {
        let _ = s.read_to_end(&mut rest);
        rest
    };
    Reply { status, headers, body }
}

fn get_with(path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
    let (host, root) = server();
    let mut req = format!("GET {root}{path_and_query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw(req.as_bytes())
}

fn get(path_and_query: &str) -> Reply {
    get_with(path_and_query, &[])
}

fn login(role: &str, password: &str) -> Reply {
    let (host, root) = server();
    let body = serde_json::json!({"login": role, "password": password}).to_string();
    raw(format!(
        "POST {root}/api/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .as_bytes())
}

/// The `token=…` cookie of a successful login.
fn login_cookie(role: &str, password: &str) -> String {
    let r = login(role, password);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let set = r.header("set-cookie").expect("a login cookie");
    set.split(';').next().unwrap().to_string()
}

const FIXTURE: &str = include_str!("../../../tests/e2e/served_fixture.sql");

fn fixture() -> Client {
    let mut db = connect(SERVE_DSN);
    db.batch_execute(FIXTURE).expect("the served fixture");
    db
}

fn export_id(db: &mut Client, label: &str) -> i32 {
    db.query_one("SELECT id FROM gn_flux.export WHERE label = $1", &[&label])
        .unwrap()
        .get(0)
}

/// The rows of a view as JSON objects keyed by id, computed by PostgreSQL with GeoNature's
/// serialisation rules (timestamps with a space, numerics as strings, zero numerics as null).
/// The view's rows as GeoNature serves them (timestamps as Python's `str(datetime)` writes them:
/// six fraction digits when there are microseconds, where PostgreSQL's text drops trailing zeros).
fn expected_rows(db: &mut Client, view: &str) -> BTreeMap<i64, Value> {
    let sql = format!(
        "SELECT id_synthese::bigint, jsonb_build_object(
             'id_synthese', id_synthese, 'id_perm_sinp', id_perm_sinp::text, 'nom_cite', nom_cite,
             'observateurs', observateurs, 'cd_nom', cd_nom, 'nombre_min', nombre_min,
             'altitude', CASE WHEN altitude IS NULL OR altitude = 0 THEN NULL ELSE altitude::text END,
             'date_debut', date_debut::text, 'derniere_action', pg_catalog.to_char(derniere_action, 'YYYY-MM-DD HH24:MI:SS')
                 || CASE WHEN pg_catalog.date_part('microseconds', derniere_action)::bigint % 1000000 <> 0
                         THEN pg_catalog.to_char(derniere_action, '.US') ELSE '' END,
             'extra', extra, 'wkt_4326', wkt_4326)::text
           FROM {view}"
    );
    db.query(&sql, &[])
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0), serde_json::from_str(r.get::<_, &str>(1)).unwrap()))
        .collect()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("items is a list").clone()
}

#[test]
fn a_keyset_walk_and_a_page_index_walk_return_the_view_exactly() {
    let mut db = fixture();
    let flat = export_id(&mut db, "served flat");
    let cookie = login_cookie("gn_flux_e2e_reader", "reader-pw");
    let want = expected_rows(&mut db, "served.v_flat");
    // Keyset: filter_n_up_<pk>, stop on a page not longer than the limit.
    let mut got = BTreeMap::new();
    let mut next = 1i64;
    let mut pages = 0;
    loop {
        let r = get_with(
            &format!("/api/exports/api/{flat}?limit=1000&orderby=id_synthese&filter_n_up_id_synthese={next}"),
            &[("Cookie", &cookie)],
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        assert_eq!(page["total"], ROWS);
        assert_eq!(page["license"]["name"], "ODC Open Database License v1.0");
        let its = items(&page);
        for i in &its {
            let id = i["id_synthese"].as_i64().unwrap();
            assert!(got.insert(id, i.clone()).is_none(), "id {id} twice");
            next = id + 1;
        }
        pages += 1;
        if its.len() < 1000 || page["total_filtered"].as_u64().unwrap() <= 1000 {
            break;
        }
        assert!(pages < 100);
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "keyset walk differs from the view");
    // Page index: offset = page number, GeoNature's total_filtered on page 0.
    let first = get_with(&format!("/api/exports/api/{flat}?limit=700"), &[("Cookie", &cookie)]).json();
    assert_eq!(first["total_filtered"], ROWS);
    let pages = (ROWS as u64).div_ceil(700);
    let mut got = BTreeMap::new();
    for p in 0..pages {
        let page = get_with(
            &format!("/api/exports/api/{flat}?limit=700&offset={p}"),
            &[("Cookie", &cookie)],
        )
        .json();
        assert_eq!(page["page"], p);
        assert_eq!(
            page["total_filtered"],
            ROWS as u64 - p * 700,
            "GeoNature's total_filtered after OFFSET"
        );
        for i in items(&page) {
            got.insert(i["id_synthese"].as_i64().unwrap(), i);
        }
    }
    assert_eq!(got, want, "page-index walk differs from the view");
    // Filters, orderby and the limit cap.
    let page = get_with(
        &format!("/api/exports/api/{flat}?limit=5000&cd_nom=60007&ilike_nom_cite=TAXON%207%20&filter_d_up_derniere_action=2024-01-05&orderby=id_synthese:desc"),
        &[("Cookie", &cookie)],
    )
    .json();
    assert_eq!(page["limit"], 1000, "limit capped at gn_flux.api_max_page_size");
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM served.v_flat WHERE cd_nom = 60007 AND nom_cite ILIKE '%TAXON 7 %' AND derniere_action >= '2024-01-05'",
            &[],
        )
        .unwrap()
        .get(0);
    let ids: Vec<i64> = items(&page)
        .iter()
        .map(|i| i["id_synthese"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len() as i64, n.min(1000));
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "orderby desc");
    assert_eq!(page["total_filtered"], n);
}

#[test]
fn a_geometry_export_answers_a_feature_collection() {
    let mut db = fixture();
    let geo = export_id(&mut db, "served geo");
    let cookie = login_cookie("gn_flux_e2e_reader", "reader-pw");
    let page = get_with(&format!("/api/exports/api/{geo}?limit=20"), &[("Cookie", &cookie)]).json();
    assert_eq!(page["items"]["type"], "FeatureCollection");
    let features = page["items"]["features"].as_array().unwrap();
    assert_eq!(
        features.len(),
        18,
        "ids 10 and 20 have no geometry: dropped but counted"
    );
    let f = &features[0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    let (x, y): (f64, f64) = db
        .query_one(
            "SELECT ST_X(geom), ST_Y(geom) FROM served.obs WHERE id_synthese = 1",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(f["geometry"]["coordinates"], serde_json::json!([x, y]));
    assert_eq!(f["properties"]["id_synthese"], 1);
    // geometry=<WKT>: what PostGIS says intersects.
    let wkt = "POLYGON((5 44, 5.05 44, 5.05 44.05, 5 44.05, 5 44))";
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM served.v_geo WHERE ST_Intersects(geom, ST_GeomFromText($1, 4326))",
            &[&wkt],
        )
        .unwrap()
        .get(0);
    let page = get_with(
        &format!("/api/exports/api/{geo}?limit=1000&geometry={}", wkt.replace(' ', "%20")),
        &[("Cookie", &cookie)],
    )
    .json();
    assert_eq!(page["total_filtered"], n);
}

#[test]
fn who_may_read_what() {
    let mut db = fixture();
    let flat = export_id(&mut db, "served flat");
    let geo = export_id(&mut db, "served geo");
    let rls = export_id(&mut db, "served rls");
    let public = export_id(&mut db, "served public");
    let flat_path = format!("/api/exports/api/{flat}?limit=1");
    // Public: anonymous, as gn_flux_anonymous.
    let r = get(&format!("/api/exports/api/{public}?limit=10"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 3000);
    // Private without credentials: 401, GeoNature's body.
    let r = get(&flat_path);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["name"], "Unauthorized");
    // Wrong password, unknown role, NOLOGIN role, superuser.
    assert_eq!(login("gn_flux_e2e_reader", "wrong").status, 401);
    assert_eq!(login("gn_flux_e2e_no_such_role", "x").status, 401);
    assert_eq!(login("gn_flux_anonymous", "x").status, 401, "a NOLOGIN role");
    assert_eq!(login("gn_flux_e2e_reader", "").status, 401, "an empty password");
    assert_eq!(
        login("gn_flux_e2e", "gn_flux_e2e").status,
        403,
        "superusers may not log in over HTTP"
    );
    // A role without SELECT on the view: 403.
    let nobody = login_cookie("gn_flux_e2e_nobody", "nobody-pw");
    let r = get_with(&flat_path, &[("Cookie", &nobody)]);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // The reader, with the cookie and with the bearer token of its login.
    let reader = login("gn_flux_e2e_reader", "reader-pw").json();
    let bearer = format!("Bearer {}", reader["token"].as_str().unwrap());
    assert_eq!(get_with(&flat_path, &[("Authorization", &bearer)]).status, 200);
    // Tokens: created by the reader for its own role, one export each.
    let mut as_reader = postgres::Client::connect(
        &format!(
            "{} user=gn_flux_e2e_reader password=reader-pw",
            strip_user(&dsn(SERVE_DSN))
        ),
        postgres::NoTls,
    )
    .unwrap();
    let token: String = as_reader
        .query_one("SELECT gn_flux.create_api_token('served flat')", &[])
        .unwrap()
        .get(0);
    let listed: i64 = as_reader
        .query_one(
            "SELECT count(*) FROM gn_flux.api_tokens WHERE export = 'served flat' AND status = 'active'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(listed, 1);
    let stored: i64 = db
        .query_one(
            "SELECT count(*) FROM gn_flux.api_token WHERE token_hash = gn_flux._api_token_hash($1)",
            &[&token],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "only the hash is stored");
    let plain: i64 = db
        .query_one(
            "SELECT count(*) FROM gn_flux.api_token t WHERE to_jsonb(t)::text LIKE '%' || $1 || '%'",
            &[&token],
        )
        .unwrap()
        .get(0);
    assert_eq!(plain, 0, "the token itself is not stored");
    assert_eq!(get(&format!("{flat_path}&token={token}")).status, 200);
    assert_eq!(get_with(&flat_path, &[("api-key", &token)]).status, 200);
    assert_eq!(
        get_with(&flat_path, &[("Authorization", &format!("Bearer {token}"))]).status,
        200
    );
    // Another export's token, a wrong token (even with a valid login), a revoked and an expired one.
    let r = get(&format!("/api/exports/api/{geo}?limit=1&token={token}"));
    assert_eq!(r.status, 403);
    assert!(r.json()["description"].as_str().unwrap().contains("another export"));
    let r = get_with(&format!("{flat_path}&token=not-a-token"), &[("Authorization", &bearer)]);
    assert_eq!(
        r.status, 403,
        "GeoNature refuses a wrong token even for a logged-in caller"
    );
    let expiring: String = as_reader
        .query_one(
            "SELECT gn_flux.create_api_token('served flat', valid_for => '1 second')",
            &[],
        )
        .unwrap()
        .get(0);
    std::thread::sleep(Duration::from_millis(1500));
    let r = get(&format!("{flat_path}&token={expiring}"));
    assert_eq!(r.status, 403);
    assert!(r.json()["description"].as_str().unwrap().contains("expired"));
    let revoked: bool = as_reader
        .query_one("SELECT gn_flux.revoke_api_token($1::text)", &[&token])
        .unwrap()
        .get(0);
    assert!(revoked);
    assert_eq!(get(&format!("{flat_path}&token={token}")).status, 403);
    // A role may not mint tokens acting as another role, nor for a view its role cannot read.
    let err = as_reader
        .query_one(
            "SELECT gn_flux.create_api_token('served flat', 'gn_flux_e2e_team_a')",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501");
    let err = as_reader
        .query_one("SELECT gn_flux.create_api_token('served public')", &[])
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501");
    // Other roles do not see the reader's tokens.
    let mut as_nobody = postgres::Client::connect(
        &format!(
            "{} user=gn_flux_e2e_nobody password=nobody-pw",
            strip_user(&dsn(SERVE_DSN))
        ),
        postgres::NoTls,
    )
    .unwrap();
    let seen: i64 = as_nobody
        .query_one("SELECT count(*) FROM gn_flux.api_tokens", &[])
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    assert!(as_nobody
        .query("SELECT token_hash FROM gn_flux.api_token", &[])
        .is_err());
    // Row-level security: team a sees its rows only, through a security_invoker view.
    let team_a = login_cookie("gn_flux_e2e_team_a", "team-a-pw");
    let page = get_with(&format!("/api/exports/api/{rls}?limit=1000"), &[("Cookie", &team_a)]).json();
    assert_eq!(page["total"], ROWS / 2);
    assert!(items(&page).iter().all(|i| i["team"] == "a"));
    let page = get_with(
        &format!("/api/exports/api/{rls}?limit=10"),
        &[("Cookie", &login_cookie("gn_flux_e2e_reader", "reader-pw"))],
    )
    .json();
    assert_eq!(page["total"], ROWS);
    // The export list: what the caller may read, never a token.
    let list = get_with("/api/exports/", &[("Cookie", &nobody)]).json();
    let labels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["label"].as_str())
        .filter(|l| l.starts_with("served"))
        .collect();
    assert_eq!(labels, ["served public"]);
    assert_eq!(get("/api/exports/").status, 401);
    assert_eq!(get("/api/gn_commons/modules").status, 401);
    let modules = get_with("/api/gn_commons/modules", &[("Cookie", &nobody)]).json();
    assert_eq!(modules[0]["module_code"], "EXPORTS");
    // The access log names roles and token ids, never a token.
    std::thread::sleep(Duration::from_millis(1500));
    let leaked: i64 = db
        .query_one(
            "SELECT count(*) FROM gn_flux.api_log WHERE path LIKE '%' || $1 || '%' OR coalesce(error, '') LIKE '%' || $1 || '%'",
            &[&token],
        )
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    let by_token: i64 = db
        .query_one(
            "SELECT count(*) FROM gn_flux.api_log WHERE token_id IS NOT NULL AND role_name = 'gn_flux_e2e_reader'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(by_token >= 3, "{by_token}");
}

fn strip_user(dsn: &str) -> String {
    dsn.split_whitespace()
        .filter(|kv| !kv.starts_with("user=") && !kv.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn deletions_are_served_as_geonature_s_log() {
    let mut db = fixture();
    let cookie = login_cookie("gn_flux_e2e_reader", "reader-pw");
    db.batch_execute("DELETE FROM served.obs WHERE id_synthese IN (11, 12, 13)")
        .unwrap();
    let log = get_with(
        "/api/synthese/log?last_action=D&meta_last_action_date=gte:2020-01-01&limit=2&page=1",
        &[("Cookie", &cookie)],
    )
    .json();
    assert_eq!(log["total"], 3);
    assert_eq!(log["limit"], 2);
    let ids: Vec<i64> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id_synthese"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [11, 12]);
    assert_eq!(log["items"][0]["last_action"], "D");
    let page2 = get_with("/api/synthese/log?last_action=D&limit=2&page=2", &[("Cookie", &cookie)]).json();
    assert_eq!(page2["items"][0]["id_synthese"], 13);
    // Another role sees them through the public export built on served.obs, and none once no
    // export it may read is built on it.
    let nobody = login_cookie("gn_flux_e2e_nobody", "nobody-pw");
    let log = get_with("/api/synthese/log", &[("Cookie", &nobody)]).json();
    assert_eq!(log["total"], 3);
    assert_eq!(
        get("/api/synthese/log").json()["total"],
        3,
        "anonymous: through the public export"
    );
    db.batch_execute("UPDATE gn_flux.export SET public = false WHERE label = 'served public'")
        .unwrap();
    let log = get_with("/api/synthese/log", &[("Cookie", &nobody)]).json();
    assert_eq!(log["total"], 0);
    assert_eq!(
        get("/api/synthese/log").json()["total"],
        0,
        "anonymous callers see public exports only"
    );
    // Bad parameters are 400 with a message.
    let r = get_with(
        "/api/synthese/log?meta_last_action_date=gte:yesterday",
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("meta_last_action_date"));
}

#[test]
fn files_in_each_format_stream_whole() {
    let mut db = fixture();
    let geo = export_id(&mut db, "served geo");
    let flat = export_id(&mut db, "served flat");
    let cookie = login_cookie("gn_flux_e2e_reader", "reader-pw");
    for (id, format, magic) in [
        (flat, "csv", &b"\"id_synthese\""[..]),
        (flat, "json", &b"["[..]),
        (flat, "xlsx", &b"PK"[..]),
        (geo, "geojson", &b"{"[..]),
        (geo, "gpkg", &b"SQLite format 3"[..]),
        (geo, "shp", &b"PK"[..]),
    ] {
        let r = get_with(&format!("/api/exports/{id}/{format}"), &[("Cookie", &cookie)]);
        assert_eq!(
            r.status,
            200,
            "{format}: {}",
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
        assert!(r.body.starts_with(magic), "{format}");
        assert!(r
            .header("content-disposition")
            .unwrap()
            .contains(&format!(".{}", if format == "shp" { "zip" } else { format })));
    }
    let csv = get_with(&format!("/api/exports/{flat}/csv"), &[("Cookie", &cookie)]);
    assert_eq!(csv.body.iter().filter(|b| **b == b'\n').count() as i64, ROWS + 1);
    assert_eq!(get(&format!("/api/exports/{flat}/csv")).status, 401);
    assert_eq!(
        get_with(&format!("/api/exports/{flat}/pdf"), &[("Cookie", &cookie)]).status,
        404
    );
    assert_eq!(
        get_with(&format!("/api/exports/{flat}/gpkg"), &[("Cookie", &cookie)]).status,
        400
    );
}

#[test]
fn hostile_requests_get_clear_errors_and_change_nothing() {
    let mut db = fixture();
    let flat = export_id(&mut db, "served flat");
    let cookie = login_cookie("gn_flux_e2e_reader", "reader-pw");
    let c = [("Cookie", cookie.as_str())];
    let base = format!("/api/exports/api/{flat}");
    for (q, status) in [
        ("orderby=id_synthese;DROP%20TABLE%20served.obs", 400),
        ("orderby=%22id_synthese%22", 400),
        ("nom_cite=x%27%20OR%20%271%27=%271", 200),
        ("filter_n_up_id_synthese=1);DROP%20TABLE%20served.obs;--", 400),
        ("filter_d_up_derniere_action=not-a-date", 400),
        ("limit=-5", 400),
        ("limit=99999999999999999999", 200),
        ("offset=99999999999999999", 400),
        ("offset=9999999&limit=1000", 200),
        ("geometry=POLYGON((0%200,%20bad", 200),
    ] {
        let r = get_with(&format!("{base}?{q}"), &c);
        assert_eq!(
            r.status,
            status,
            "{q}: {}",
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
        let body = r.json();
        if status == 400 {
            assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()), "{q}");
        }
    }
    // (on an export without geometry_field, geometry= is ignored; on one with it, bad WKT is a 400)
    let geo = export_id(&mut db, "served geo");
    let r = get_with(&format!("/api/exports/api/{geo}?geometry=POLYGON((0%200,%20bad"), &c);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let injected = get_with(&format!("{base}?nom_cite=x%27%20OR%20%271%27=%271"), &c).json();
    assert_eq!(injected["total_filtered"], 0);
    let n: i64 = db.query_one("SELECT count(*) FROM served.obs", &[]).unwrap().get(0);
    assert_eq!(n, ROWS, "nothing dropped");
    // Malformed UTF-8 and bad percent-escapes in the target: 400.
    let (host, root) = server();
    let r = raw(format!(
        "GET {root}/api/exports/api/{flat}?nom_cite=%FF%FE HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .as_bytes());
    assert_eq!(r.status, 400);
    let mut bytes = format!("GET {root}/api/exports/api/{flat}?x=").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(raw(&bytes).status, 400);
    // An oversized request line, too many headers, an oversized body.
    let long = "a".repeat(20_000);
    assert_eq!(
        raw(format!("GET {root}/api/exports/?q={long} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).status,
        414
    );
    let mut many = format!("GET {root}/api/exports/ HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(many.as_bytes()).status, 431);
    assert_eq!(
        raw(format!("POST {root}/api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").as_bytes())
            .status,
        413
    );
    assert_eq!(
        raw(format!(
            "POST {root}/api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n{{bad"
        )
        .as_bytes())
        .status,
        400
    );
    // Unknown routes and methods.
    assert_eq!(get("/api/nope").status, 404);
    assert_eq!(
        raw(
            format!("DELETE {root}/api/exports/api/{flat} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()
        )
        .status,
        405
    );
}

#[test]
fn slow_and_idle_clients_do_not_hold_the_workers() {
    let mut db = fixture();
    let public = export_id(&mut db, "served public");
    let (host, root) = server();
    // A slow loris: one byte every 300 ms, never finishing its head.
    let loris_host = host.clone();
    let loris = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&loris_host).unwrap();
        let started = Instant::now();
        for b in b"GET /geonature/api/exports/ HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        (started.elapsed(), String::from_utf8_lossy(&rest).to_string())
    });
    // 200 idle connections.
    let idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(&host).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..20 {
        let t = Instant::now();
        let r = get(&format!("/api/exports/api/{public}?limit=100"));
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a request waited {:?} behind slow or idle clients",
            t.elapsed()
        );
    }
    let (held, reply) = loris.join().unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "the slow client gets 408: {reply:?}");
    assert!(held < Duration::from_secs(30), "{held:?}");
    drop(idle);
    let _ = root;
}

fn api_pids(db: &mut Client) -> Vec<i32> {
    db.query(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'gn_flux api' ORDER BY pid",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn workers_stop_on_sigterm_and_come_back() {
    let mut db = fixture();
    let public = export_id(&mut db, "served public");
    let pids = wait_for("two API workers", Duration::from_secs(30), || {
        let p = api_pids(&mut db);
        (p.len() == 2).then_some(p)
    });
    let status: i64 = db
        .query_one("SELECT count(*) FROM gn_flux.api_status WHERE running", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, 2);
    // SIGTERM (pg_terminate_backend): gone within a second, restarted by PostgreSQL.
    let t = Instant::now();
    db.execute("SELECT pg_terminate_backend($1)", &[&pids[0]]).unwrap();
    wait_for("the worker to exit", Duration::from_secs(1), || {
        (!api_pids(&mut db).contains(&pids[0])).then_some(())
    });
    let stopped = t.elapsed();
    wait_for("the worker to be restarted", Duration::from_secs(20), || {
        (api_pids(&mut db).len() == 2).then_some(())
    });
    assert!(stopped < Duration::from_secs(1), "{stopped:?}");
    wait_for("the API to answer", Duration::from_secs(20), || {
        let ok = (0..4).all(|_| get(&format!("/api/exports/api/{public}?limit=1")).status == 200);
        ok.then_some(())
    });
}

#[test]
fn a_worker_killed_with_sigkill_is_restarted() {
    let mut db = fixture();
    let public = export_id(&mut db, "served public");
    let pids = wait_for("two API workers", Duration::from_secs(30), || {
        let p = api_pids(&mut db);
        (p.len() == 2).then_some(p)
    });
    // SIGKILL: PostgreSQL restarts every process (crash recovery), the workers included.
    let status = std::process::Command::new("kill")
        .args(["-9", &pids[1].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    drop(db);
    let mut db = wait_for("the cluster to come back", Duration::from_secs(60), || {
        postgres::Client::connect(&dsn(SERVE_DSN), postgres::NoTls).ok()
    });
    wait_for("two new API workers", Duration::from_secs(60), || {
        let p = api_pids(&mut db);
        (p.len() == 2 && !p.contains(&pids[1])).then_some(())
    });
    wait_for("the API to answer", Duration::from_secs(30), || {
        let ok = (0..4).all(|_| {
            let (host, _) = server();
            TcpStream::connect(&host).is_ok() && get(&format!("/api/exports/api/{public}?limit=1")).status == 200
        });
        ok.then_some(())
    });
}

/// Node to node: another database pulls the served export with gn_flux.pull_source, full then
/// incremental (inserts, updates, deletions), and ends with exactly the view's rows.
#[test]
fn another_gn_flux_node_pulls_the_served_export_exactly() {
    let mut db = fixture();
    let flat = export_id(&mut db, "served flat");
    let mut node = connect(NODE_DSN);
    let url = dsn(SERVE_URL);
    node.batch_execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'served_node'")
        .ok();
    node.execute(
        "SELECT gn_flux.add_source('served_node', $1, $2, login => 'gn_flux_e2e_reader', password => 'reader-pw')",
        &[&url, &flat],
    )
    .unwrap();
    let compare = |db: &mut Client, node: &mut Client| {
        let want = expected_rows(db, "served.v_flat");
        let got: BTreeMap<i64, Value> = node
            .query(
                "SELECT id_data::bigint, item::text FROM gn_flux.data_json WHERE source = 'served_node'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, i64>(0), serde_json::from_str(r.get::<_, &str>(1)).unwrap()))
            .collect();
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
    };
    node.execute("SELECT gn_flux.pull_source('served_node')", &[]).unwrap();
    compare(&mut db, &mut node);
    let keyset: i64 = db
        .query_one(
            "SELECT count(*) FROM gn_flux.api_log WHERE route = 'export_api' AND role_name = 'gn_flux_e2e_reader' AND at > now() - interval '5 minutes'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(keyset >= 20, "{keyset} pages");
    db.batch_execute(
        "INSERT INTO served.obs (id_synthese, id_perm_sinp, nom_cite, derniere_action, team)
           SELECT i, md5('new' || i)::uuid, 'New ' || i, date_trunc('second', now())::timestamp + interval '0.25 seconds', 'a' FROM generate_series(20001, 20100) i;
         UPDATE served.obs SET nom_cite = nom_cite || ' (revu)', derniere_action = date_trunc('second', now())::timestamp + interval '0.25 seconds' WHERE id_synthese % 1000 = 1;
         DELETE FROM served.obs WHERE id_synthese BETWEEN 100 AND 149;",
    )
    .unwrap();
    node.execute("SELECT gn_flux.pull_source('served_node')", &[]).unwrap();
    compare(&mut db, &mut node);
    let kind: String = node
        .query_one(
            "SELECT xfer_type || ' ' || xfer_status FROM gn_flux.import_log WHERE source = 'served_node' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kind, "update success");
    node.batch_execute("SELECT gn_flux.drop_source('served_node')").unwrap();
}

/// Puts the API settings back (also when the test fails).
struct ResetApiSettings;

impl Drop for ResetApiSettings {
    fn drop(&mut self) {
        let mut db = connect(SERVE_DSN);
        for s in [
            "gn_flux.api_max_page_size",
            "gn_flux.api_max_connections",
            "gn_flux.api_statement_timeout",
        ] {
            let _ = db.batch_execute(&format!("ALTER SYSTEM RESET {s}"));
        }
        let _ = db.batch_execute("SELECT pg_reload_conf()");
        std::thread::sleep(Duration::from_millis(1500));
    }
}

#[test]
fn settings_are_reloaded_on_sighup() {
    let mut db = fixture();
    let public = export_id(&mut db, "served public");
    let _reset = ResetApiSettings;
    db.batch_execute("ALTER SYSTEM SET gn_flux.api_max_page_size = 50")
        .unwrap();
    db.batch_execute("ALTER SYSTEM SET gn_flux.api_max_connections = 3")
        .unwrap();
    db.batch_execute("ALTER SYSTEM SET gn_flux.api_statement_timeout = '300ms'")
        .unwrap();
    db.batch_execute("SELECT pg_reload_conf()").unwrap();
    // Both workers: several new connections in a row must all see the new cap.
    wait_for("the new page size on every worker", Duration::from_secs(10), || {
        let all = (0..6).all(|_| get(&format!("/api/exports/api/{public}?limit=1000")).json()["limit"] == 50);
        all.then_some(())
    });
    // The connection cap: 3 per worker, 2 workers; 12 idle connections, the extra ones get 503.
    let (host, _) = server();
    let conns: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(&host).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut refused = 0;
    for mut c in conns {
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 12];
        if let Ok(n) = c.read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 503") {
                refused += 1;
            }
        }
    }
    assert!((6..=12).contains(&refused), "{refused} connections refused");
    // gn_flux.api_statement_timeout: a slow view answers 503, and the worker goes on.
    db.batch_execute(
        "CREATE VIEW served.v_slow AS SELECT id_synthese, nom_cite FROM served.obs WHERE pg_sleep(0.001) IS NOT NULL;
         GRANT SELECT ON served.v_slow TO gn_flux_anonymous;
         INSERT INTO gn_flux.export (label, schema_name, view_name, public) VALUES ('served slow', 'served', 'v_slow', true);",
    )
    .unwrap();
    let slow = export_id(&mut db, "served slow");
    let t = Instant::now();
    let r = get(&format!("/api/exports/api/{slow}?limit=10"));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("api_statement_timeout"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(get(&format!("/api/exports/api/{public}?limit=10")).status, 200);
}
