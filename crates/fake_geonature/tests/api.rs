//! The stand-in over real HTTP on 127.0.0.1: auth, paging quirks, filters, tokens, synthese log,
//! mutations and every fault kind.

use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule, Faults, MutationRequest};
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, LOCATION};
use serde_json::{json, Value};
use std::time::Duration;

fn start(rows: i64) -> FakeGeoNature {
    FakeGeoNature::start(Config {
        rows,
        seed: 7,
        ..Config::default()
    })
    .expect("start stand-in")
}

fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn no_redirect_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn login(c: &Client, gn: &FakeGeoNature, user: &str, pass: &str) -> Response {
    c.post(format!("{}/api/auth/login", gn.url()))
        .json(&json!({"login": user, "password": pass}))
        .send()
        .unwrap()
}

fn get_json(c: &Client, url: &str) -> (u16, Value) {
    let r = c.get(url).header(ACCEPT, "application/json").send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn export_url(gn: &FakeGeoNature, id: i64, query: &str) -> String {
    format!("{}/api/exports/api/{id}?{query}", gn.url())
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id_synthese"].as_i64().unwrap())
        .collect()
}

#[test]
fn login_cookie_bearer_and_wrong_credentials() {
    let gn = start(10);
    let c = client();
    let r = login(&c, &gn, "admin", "nope");
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().unwrap();
    assert_eq!(body["name"], "Unauthorized");
    assert!(
        body.get("request_id").is_none(),
        "GeoNature's 401 body has no request_id"
    );
    let r = c
        .post(format!("{}/api/auth/login", gn.url()))
        .json(&json!({"login": "admin"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let r = login(&c, &gn, "admin", "admin");
    assert_eq!(r.status().as_u16(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(cookies.iter().any(|c| c.starts_with("session=")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("token=")), "{cookies:?}");
    let body: Value = r.json().unwrap();
    let jwt = body["token"].as_str().unwrap().to_string();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(body["user"]["identifiant"], "admin");
    assert!(body["expires"].as_str().unwrap().ends_with("+00:00"));

    // the cookie jar authenticates
    let (s, modules) = get_json(&c, &format!("{}/api/gn_commons/modules", gn.url()));
    assert_eq!(s, 200);
    assert_eq!(
        gn_protocol::auth::export_module_path(&modules).as_deref(),
        Some("exports")
    );
    assert!(modules[0]["cruved"].is_object());

    // a bearer token authenticates a client without cookies
    let plain = Client::new();
    let r = plain
        .get(format!("{}/api/gn_commons/modules", gn.url()))
        .bearer_auth(&jwt)
        .header(ACCEPT, "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = plain
        .get(format!("{}/api/gn_commons/modules", gn.url()))
        .bearer_auth(format!("{jwt}x"))
        .header(ACCEPT, "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // a user without permission on EXPORTS does not see the module
    let c2 = client();
    assert_eq!(login(&c2, &gn, "observer", "observer").status().as_u16(), 200);
    let (_, modules) = get_json(&c2, &format!("{}/api/gn_commons/modules", gn.url()));
    assert_eq!(gn_protocol::auth::export_module_path(&modules), None);
}

#[test]
fn anonymous_gets_401_json_or_a_login_redirect() {
    let gn = start(10);
    let (s, body) = get_json(&Client::new(), &format!("{}/api/gn_commons/modules", gn.url()));
    assert_eq!((s, body["code"].as_i64()), (401, Some(401)));
    let r = no_redirect_client()
        .get(format!("{}/api/synthese/log?limit=5", gn.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        loc.contains("/geonature/#/login?next=%2Fgeonature%2Fapi%2Fsynthese%2Flog%3Flimit%3D5"),
        "{loc}"
    );
    // following it lands on the front end (an HTML page, not JSON); the login route is in the
    // fragment, which HTTP clients do not send, so a client must look at the redirect itself
    let r = Client::new()
        .get(format!("{}/api/gn_commons/modules", gn.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.url().path(), "/geonature/");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[test]
fn export_permissions_tokens_and_errors() {
    let gn = start(10);
    let anon = Client::new();
    let (s, body) = get_json(&anon, &export_url(&gn, 1, ""));
    assert_eq!(s, 403);
    assert_eq!(body["name"], "Forbidden");
    assert!(body["request_id"].is_string());
    assert_eq!(get_json(&anon, &export_url(&gn, 1, "token=export1-token")).0, 200);
    assert_eq!(
        get_json(&anon, &export_url(&gn, 1, "token=export2-token")).0,
        403,
        "one export's token does not open another"
    );
    let r = anon
        .get(export_url(&gn, 2, ""))
        .header("api-key", "export2-token")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get_json(&anon, &export_url(&gn, 99, "")).0, 404);
    assert_eq!(get_json(&anon, &format!("{}/api/exports/api/abc", gn.url())).0, 404);

    let admin = client();
    login(&admin, &gn, "admin", "admin");
    assert_eq!(get_json(&admin, &export_url(&gn, 1, "")).0, 200);
    assert_eq!(
        get_json(&admin, &export_url(&gn, 1, "token=wrong")).0,
        403,
        "a wrong token is refused even for an admin"
    );
    let observer = client();
    login(&observer, &gn, "observer", "observer");
    assert_eq!(get_json(&observer, &export_url(&gn, 1, "")).0, 403);

    // a public export with a geometry field: no credentials, a FeatureCollection without ids
    let (s, body) = get_json(&anon, &export_url(&gn, 3, "limit=0"));
    assert_eq!(s, 200);
    assert_eq!(body["items"]["type"], "FeatureCollection");
    let features = body["items"]["features"].as_array().unwrap();
    assert!(features
        .iter()
        .all(|f| f.get("id").is_none() && f["type"] == "Feature" && f["properties"]["id_synthese"].is_i64()));
    assert!(features.len() <= 10 && body["total"] == 10);
    assert_eq!(body["license"]["name"], "Licence Ouverte/Open Licence Version 2.0");
}

#[test]
fn paging_quirks_and_exact_serialisation() {
    let gn = start(2500);
    let c = Client::new();
    let tok = "token=export1-token";
    let (_, p) = get_json(&c, &export_url(&gn, 1, tok));
    assert_eq!(
        (
            p["limit"].as_u64(),
            p["page"].as_u64(),
            p["total"].as_u64(),
            p["total_filtered"].as_u64()
        ),
        (Some(1000), Some(0), Some(2500), Some(2500))
    );
    assert_eq!(ids(&p), (1..=1000).collect::<Vec<_>>());
    // limit capped at 1000 and echoed
    let (_, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=5000&offset=2")));
    assert_eq!(p["limit"], 1000);
    assert_eq!(ids(&p), (2001..=2500).collect::<Vec<_>>());
    assert_eq!(p["total_filtered"], 500, "total_filtered is counted after the OFFSET");
    // offset is a page index
    let (_, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=10&offset=3")));
    assert_eq!(ids(&p), (31..=40).collect::<Vec<_>>());
    assert_eq!(p["page"], 3);
    // limit=0: no limit (streamed), echoed as 0
    let (_, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=0")));
    assert_eq!((p["limit"].as_u64(), ids(&p).len()), (Some(0), 2500));
    // non-integer limit → default; negative → 500
    assert_eq!(
        get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=abc"))).1["limit"],
        1000
    );
    assert_eq!(get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=-1"))).0, 500);
    // orderby
    let (_, p) = get_json(
        &c,
        &export_url(&gn, 1, &format!("{tok}&limit=3&orderby=id_synthese:desc")),
    );
    assert_eq!(ids(&p), vec![2500, 2499, 2498]);
    let (s, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&orderby=nope")));
    assert_eq!(
        (s, p["description"].as_str()),
        (400, Some("No column name nope to sort with"))
    );
    // first value wins; unknown parameters ignored
    let (_, p) = get_json(
        &c,
        &export_url(
            &gn,
            1,
            &format!("{tok}&limit=2&limit=7&offset=1&offset=9&action=%5B%27I%27%2C+%27U%27%5D"),
        ),
    );
    assert_eq!(ids(&p), vec![3, 4]);
    assert_eq!(p["total_filtered"], 2498);

    // exact bytes: sorted keys, Python separators, timestamps with a space, UTF-8 as is
    let raw = c
        .get(export_url(&gn, 1, &format!("{tok}&limit=1")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(raw.starts_with("{\"items\": [{\"altitude_max\": "), "{raw}");
    assert!(
        raw.ends_with(", \"limit\": 1, \"page\": 0, \"total\": 2500, \"total_filtered\": 2500}"),
        "{raw}"
    );
    let item = &serde_json::from_str::<Value>(&raw).unwrap()["items"][0];
    let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let da = item["derniere_action"].as_str().unwrap();
    assert!(da.len() >= 19 && &da[10..11] == " " && !da.contains('T'), "{da}");
    assert!(item["jdd_uuid"].as_str().unwrap().len() == 36);
    assert_eq!(
        gn.item_json(1, 1).unwrap(),
        raw[11..11 + gn.item_json(1, 1).unwrap().len()]
    );

    // the metadata shape carries objects
    let (_, p) = get_json(&c, &export_url(&gn, 2, "token=export2-token&limit=5"));
    let it = &p["items"][0];
    assert!(it["ca_data"]["uuid"].is_string() && it["jdd_data"]["actors"].is_array());
    assert!(it.get("jdd_uuid").is_none());

    // realistic content somewhere in the data
    let (_, all) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=0")));
    let text = all.to_string();
    for needle in ["é", "\\n", "\\\"", ";", "POLYGON((", "POINT("] {
        assert!(text.contains(needle), "missing {needle}");
    }
    assert!(all["items"].as_array().unwrap().iter().any(|i| i["wkt_4326"].is_null()));
}

#[test]
fn filters_over_http() {
    let gn = start(500);
    let c = Client::new();
    let base = "token=export1-token&limit=0";
    let fetch = |q: &str| get_json(&c, &export_url(&gn, 1, &format!("{base}&{q}"))).1;
    let p = fetch("cd_nom=61098");
    assert!(p["items"].as_array().unwrap().iter().all(|i| i["cd_nom"] == 61098));
    assert!(p["total_filtered"].as_u64().unwrap() > 0);
    let p = fetch("ilike_comment_releve=PLUIE");
    assert!(p["items"].as_array().unwrap().iter().all(|i| i["comment_releve"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("pluie")));
    assert_eq!(
        fetch("ilike_observateurs=zzzz")["total_filtered"],
        500,
        "ilike on a varchar column is a silent no-op"
    );
    let p = fetch("filter_d_up_date_debut=2020-01-01&filter_d_lo_date_debut=2020-12-31 23:59:59");
    let n = p["total_filtered"].as_u64().unwrap();
    assert!(n > 0 && n < 500);
    assert!(p["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["date_debut"].as_str().unwrap().starts_with("2020-")));
    let p = fetch("filter_n_up_id_synthese=490");
    assert_eq!(ids(&p), (490..=500).collect::<Vec<_>>());
    let p = fetch("filter_n_lo_id_synthese=3");
    assert_eq!(ids(&p), vec![1, 2, 3]);
    let one = fetch("filter_d_eq_id_synthese=42");
    assert_eq!(ids(&one), vec![42]);
    assert_eq!(
        get_json(&c, &export_url(&gn, 1, "token=export1-token&filter_n_up_nope=1")).0,
        500
    );
    assert_eq!(
        get_json(
            &c,
            &export_url(&gn, 1, "token=export1-token&filter_d_up_derniere_action=garbage")
        )
        .0,
        500
    );
    // geometry filter (bounding-box intersection) needs a geometry field
    assert_eq!(
        get_json(&c, &export_url(&gn, 1, "token=export1-token&geometry=POINT(6 45)")).0,
        500
    );
    let p = get_json(
        &c,
        &export_url(&gn, 3, "limit=0&geometry=POLYGON((5 44,6.5 44,6.5 46,5 46,5 44))"),
    )
    .1;
    let f = p["items"]["features"].as_array().unwrap();
    assert!(!f.is_empty() && (f.len() as u64) < 500);
}

#[test]
fn synthese_log_and_mutations_at_server_clock() {
    let gn = start(100);
    let c = client();
    login(&c, &gn, "admin", "admin");
    let before = gn.now();
    let m = gn.mutate(&MutationRequest {
        insert: 3,
        update: 4,
        delete: 2,
        ..Default::default()
    });
    assert_eq!(
        (m.inserted, m.updated.len(), m.deleted.len()),
        (vec![101, 102, 103], 4, 2)
    );
    let at = gn_protocol::time::parse_timestamp(&m.at).unwrap();
    assert!(at >= before);
    let tok = "token=export1-token";
    // updates: new content and derniere_action at the server clock
    let upd = m.updated[0];
    let (_, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&id_synthese={upd}")));
    assert_eq!(p["items"][0]["derniere_action"].as_str().unwrap(), m.at);
    assert!(p["items"][0]["comment_occurrence"]
        .as_str()
        .unwrap()
        .starts_with("Mise à jour n°1"));
    // deletions disappear from the export
    let (_, p) = get_json(&c, &export_url(&gn, 1, &format!("{tok}&limit=0")));
    assert_eq!(p["total"], 101);
    assert!(!ids(&p).contains(&m.deleted[0]));
    // an incremental window sees exactly the changed rows
    let since = gn_protocol::time::format_timestamp(&before);
    let (_, p) = get_json(
        &c,
        &export_url(&gn, 1, &format!("{tok}&limit=0&filter_d_up_derniere_action={since}")),
    );
    let mut want: Vec<i64> = m.updated.iter().chain([101, 102, 103].iter()).copied().collect();
    want.sort();
    assert_eq!(ids(&p), want);

    // the log: 1-based pages, total, deletions
    let log = |q: &str| get_json(&c, &format!("{}/api/synthese/log?{q}", gn.url())).1;
    let p = log(&format!(
        "meta_last_action_date=gte:{}&last_action=D&limit=1&page=1",
        before.format("%Y-%m-%dT%H:%M:%S")
    ));
    assert_eq!(
        (p["total"].as_u64(), p["page"].as_u64(), p["limit"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert!(p.get("total_filtered").is_none());
    let p2 = log(&format!(
        "meta_last_action_date=gte:{}&last_action=D&limit=1&page=2",
        before.format("%Y-%m-%dT%H:%M:%S")
    ));
    let mut deleted = vec![
        p["items"][0]["id_synthese"].as_i64().unwrap(),
        p2["items"][0]["id_synthese"].as_i64().unwrap(),
    ];
    deleted.sort();
    assert_eq!(deleted, m.deleted);
    assert_eq!(p["items"][0]["meta_last_action_date"].as_str().unwrap(), m.at);
    let p = log(&format!(
        "meta_last_action_date=gte:{}",
        before.format("%Y-%m-%d %H:%M:%S")
    ));
    assert_eq!(p["total"], 9);
    assert_eq!(log("")["limit"], 50);
    assert_eq!(log("")["total"], 101 + 2);

    // the control endpoint does the same over HTTP
    let r: Value = Client::new()
        .post(format!("{}/_control/mutate", gn.base_url()))
        .json(&json!({"delete_ids": [1, 1, 5]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["deleted"], json!([1, 5]));
    let st: Value = Client::new()
        .get(format!("{}/_control/state", gn.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(st["rows"], 99);
}

#[test]
fn faults_status_retry_after_and_after_n() {
    let gn = start(50);
    let c = Client::new();
    let url = export_url(&gn, 1, "token=export1-token&limit=10");
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Status {
            status: 503,
            retry_after: Some(2),
        },
        times: 1,
        after: 0,
    });
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(1),
        },
        times: 1,
        after: 0,
    });
    let r = c.get(&url).send().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()),
        (503, "2")
    );
    let r = c.get(&url).send().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()),
        (429, "1")
    );
    assert_eq!(c.get(&url).send().unwrap().status().as_u16(), 200);
    // a 500 on the third matching request only
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Status {
            status: 500,
            retry_after: None,
        },
        times: 1,
        after: 2,
    });
    let codes: Vec<u16> = (0..4).map(|_| c.get(&url).send().unwrap().status().as_u16()).collect();
    assert_eq!(codes, vec![200, 200, 500, 200]);
    // garbage body
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Garbage,
        times: 1,
        after: 0,
    });
    let r = c.get(&url).send().unwrap();
    assert!(serde_json::from_str::<Value>(&r.text().unwrap()).is_err());
    // the control endpoint accepts the same rules
    let r = c
        .post(format!("{}/_control/faults", gn.base_url()))
        .json(&json!({"path": "/api/synthese", "kind": "status", "status": 502}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let faults: Value = c
        .get(format!("{}/_control/faults", gn.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(faults["rules"][0]["status"], 502);
    c.delete(format!("{}/_control/faults", gn.base_url())).send().unwrap();
}

#[test]
fn faults_slow_and_truncated_bodies() {
    let gn = start(50);
    let url = export_url(&gn, 1, "token=export1-token");
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Delay { ms: 1500 },
        times: 1,
        after: 0,
    });
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let err = impatient.get(&url).send().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let c = Client::new();
    // the body is cut: either the read fails or the JSON does not parse
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Truncate,
        times: 1,
        after: 0,
    });
    let r = c.get(&url).send().unwrap();
    match r.bytes() {
        Err(_) => {}
        Ok(b) => assert!(
            serde_json::from_slice::<Value>(&b).is_err(),
            "a truncated body must not parse"
        ),
    }
    assert_eq!(
        c.get(&url).send().unwrap().status().as_u16(),
        200,
        "then the server answers normally"
    );
}

#[test]
fn faults_session_expiry_and_ignored_keyset() {
    let gn = start(50);
    gn.set_faults(Faults {
        session_max_requests: Some(2),
        ..Faults::default()
    });
    let c = client();
    login(&c, &gn, "admin", "admin");
    let url = format!("{}/api/gn_commons/modules", gn.url());
    assert_eq!(get_json(&c, &url).0, 200);
    assert_eq!(get_json(&c, &url).0, 200);
    assert_eq!(get_json(&c, &url).0, 401, "the session expired after 2 requests");
    assert_eq!(get_json(&c, &url).0, 401);
    login(&c, &gn, "admin", "admin");
    assert_eq!(get_json(&c, &url).0, 200, "a new login works");
    assert_eq!(gn.logins(), 2);

    gn.set_faults(Faults {
        ignore_keyset: true,
        ..Faults::default()
    });
    let (_, p) = get_json(
        &c,
        &export_url(&gn, 1, "limit=5&orderby=id_synthese&filter_n_up_id_synthese=40"),
    );
    assert_eq!(ids(&p), vec![1, 2, 3, 4, 5], "keyset bound ignored");
    assert_eq!(p["total_filtered"], p["total"]);
}

#[test]
fn request_log_records_every_call() {
    let gn = start(5);
    let c = Client::new();
    c.get(export_url(&gn, 1, "token=export1-token&limit=2&offset=1"))
        .send()
        .unwrap();
    let reqs = gn.requests();
    assert_eq!(
        reqs.last().unwrap(),
        "GET /geonature/api/exports/api/1?token=export1-token&limit=2&offset=1"
    );
    let r: Value = c
        .get(format!("{}/_control/requests", gn.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(!r["requests"].as_array().unwrap().is_empty());
    gn.clear_requests();
    assert!(gn.requests().is_empty());
}

#[test]
fn a_million_rows_start_at_once_and_page_cheaply() {
    let started = std::time::Instant::now();
    let gn = start(1_000_000);
    let startup = started.elapsed();
    let c = Client::new();
    let (_, p) = get_json(
        &c,
        &export_url(
            &gn,
            1,
            "token=export1-token&orderby=id_synthese&filter_n_up_id_synthese=999501",
        ),
    );
    assert_eq!(ids(&p), (999_501..=1_000_000).collect::<Vec<_>>());
    let (_, p) = get_json(&c, &export_url(&gn, 1, "token=export1-token&offset=999"));
    assert_eq!(ids(&p).first(), Some(&999_001));
    assert_eq!(p["total"], 1_000_000);
    eprintln!("1,000,000-row stand-in: started in {startup:?}");
}

#[test]
fn binary_serves_until_killed() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-geonature"))
        .args(["--port", "0", "--rows", "20", "--seed", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let root = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let (s, p) = get_json(&Client::new(), &format!("{root}/api/exports/api/3?limit=1"));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(s, 200);
    assert_eq!(p["total"], 20);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_fake-geonature"))
        .args(["--rows", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn metadata_export_serves_acquisition_frameworks_with_datasets() {
    let gn = start(200);
    let anon = Client::new();
    assert_eq!(get_json(&anon, &export_url(&gn, 4, "")).0, 403, "private export");
    assert_eq!(
        get_json(&anon, &export_url(&gn, 4, "token=export1-token")).0,
        403,
        "another export's token does not open it"
    );
    let r = anon
        .get(export_url(&gn, 4, "limit=0"))
        .header("api-key", "export4-token")
        .header(ACCEPT, "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let all: Value = r.json().unwrap();
    assert_eq!((all["total"].as_u64(), all["limit"].as_u64()), (Some(3), Some(0)));
    let items = all["items"].as_array().unwrap();
    let pks: Vec<i64> = items
        .iter()
        .map(|i| i["id_acquisition_framework"].as_i64().unwrap())
        .collect();
    assert_eq!(pks, vec![1, 2, 3], "default order: the pk");
    // AF uuids and dataset objects are those embedded in the metadata Synthese shape (export 2)
    let (_, synthese) = get_json(&anon, &export_url(&gn, 2, "token=export2-token&limit=0"));
    let mut n_datasets = 0;
    for row in synthese["items"].as_array().unwrap() {
        let af = items
            .iter()
            .find(|a| a["uuid"] == row["ca_data"]["uuid"])
            .expect("every ca_data uuid is an AF of the metadata export");
        let mut ca = af.clone();
        ca.as_object_mut().unwrap().remove("datasets");
        ca.as_object_mut().unwrap().remove("id_acquisition_framework");
        assert_eq!(ca, row["ca_data"]);
        // a dataset the metadata export cannot see has jdd_data null (id % 200 == 91)
        assert!(
            af["datasets"].as_array().unwrap().contains(&row["jdd_data"])
                || (row["jdd_data"].is_null() && row["id_synthese"].as_i64().unwrap() % 200 == 91),
            "the row's dataset is nested in its AF"
        );
    }
    for af in items {
        n_datasets += af["datasets"].as_array().unwrap().len();
        assert!(af["datasets"].as_array().unwrap().iter().all(|d| d["uuid"].is_string()));
    }
    assert_eq!(n_datasets, 8);
    // paging: limit, page-index offset, total_filtered after the OFFSET, orderby
    let (_, p) = get_json(&anon, &export_url(&gn, 4, "token=export4-token&limit=2&offset=1"));
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    assert_eq!(p["items"][0]["id_acquisition_framework"], 3);
    assert_eq!((p["page"].as_u64(), p["total_filtered"].as_u64()), (Some(1), Some(1)));
    let (_, p) = get_json(
        &anon,
        &export_url(&gn, 4, "token=export4-token&orderby=id_acquisition_framework:desc"),
    );
    assert_eq!(p["items"][0]["id_acquisition_framework"], 3);
    assert_eq!(
        get_json(&anon, &export_url(&gn, 4, "token=export4-token&orderby=nope")).0,
        400
    );
    // a logged-in admin sees it without a token
    let admin = client();
    login(&admin, &gn, "admin", "admin");
    assert_eq!(
        get_json(&admin, &export_url(&gn, 4, "limit=1")).1["items"][0]["id_acquisition_framework"],
        1
    );
}
