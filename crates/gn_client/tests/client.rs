//! The client against the GeoNature stand-in over real HTTP on 127.0.0.1: login and discovery,
//! tokens, paging (keyset, cap, fallback), every fault kind, session expiry, incremental
//! windows, deletions, the metadata export, and the pipeline's cancellation.

use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule, Faults, MutationRequest};
use gn_client::{
    spawn_pull, CancelFlag, ClientError, Event, ExportWalk, PreparedPage, PullPlan, PullStats, Session, SourceConfig,
};
use gn_protocol::{Filter, FilterOp};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

fn start(rows: i64) -> FakeGeoNature {
    FakeGeoNature::start(Config {
        rows,
        seed: 11,
        ..Config::default()
    })
    .expect("start the stand-in")
}

/// Fast retries for tests: 10 ms base (so jitter < 10 ms), 200 ms cap.
fn base_cfg(gn: &FakeGeoNature) -> SourceConfig {
    SourceConfig {
        url: gn.url(),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(20),
        ..SourceConfig::default()
    }
}

fn admin(gn: &FakeGeoNature) -> SourceConfig {
    SourceConfig {
        login: Some("admin".into()),
        password: Some("admin".into()),
        ..base_cfg(gn)
    }
}

fn token1(gn: &FakeGeoNature) -> SourceConfig {
    SourceConfig {
        token: Some("export1-token".into()),
        ..base_cfg(gn)
    }
}

fn session(cfg: SourceConfig) -> Session {
    Session::new(cfg, CancelFlag::new()).expect("session")
}

/// Walks a whole export; returns the ids in delivery order and the walk.
fn walk_ids(s: &mut Session, window: Vec<Filter>, keyset: bool) -> Result<(Vec<i64>, ExportWalk), ClientError> {
    let mut w = ExportWalk::data(&s.config().clone(), window, keyset);
    let mut ids = Vec::new();
    while let Some(mut p) = w.next_page(s)? {
        let (items, feature) = p.take_items();
        for it in items {
            let row = if feature { &it["properties"] } else { &it };
            ids.push(row["id_synthese"].as_i64().expect("id"));
        }
    }
    Ok((ids, w))
}

fn export_requests(gn: &FakeGeoNature, id: i64) -> Vec<String> {
    let needle = format!("/api/exports/api/{id}");
    gn.requests().into_iter().filter(|r| r.contains(&needle)).collect()
}

fn assert_each_once(ids: &[i64], want: impl IntoIterator<Item = i64>) {
    let want: Vec<i64> = want.into_iter().collect();
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted.len(), want.len(), "count");
    assert_eq!(sorted, want, "every id exactly once");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "delivered in id order");
}

/// Runs a pull to its end; returns the events (the last one is Finished or Failed).
fn collect(cfg: SourceConfig, plan: PullPlan) -> Vec<Event> {
    let h = spawn_pull(cfg, plan, CancelFlag::new());
    let mut events = Vec::new();
    loop {
        match h.recv_timeout(Duration::from_millis(100)) {
            Ok(ev) => {
                let last = matches!(ev, Event::Finished(_) | Event::Failed(_));
                events.push(ev);
                if last {
                    return events;
                }
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => panic!("worker vanished after {events:?}"),
        }
    }
}

fn pages(events: &[Event]) -> Vec<&PreparedPage> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Page(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn finished(events: &[Event]) -> &PullStats {
    match events.last() {
        Some(Event::Finished(s)) => s,
        other => panic!("expected Finished, got {other:?}"),
    }
}

fn fault(path: &str, action: FaultAction, times: u64, after: u64) -> FaultRule {
    FaultRule {
        path: path.into(),
        action,
        times,
        after,
    }
}

// ----- login, discovery, tokens ------------------------------------------------------------

#[test]
fn login_rides_on_cookies_and_discovers_the_module() {
    let gn = start(30);
    let mut s = session(admin(&gn));
    assert_eq!(s.module_path().unwrap(), "exports");
    assert_eq!((gn.logins(), s.stats().logins), (1, 1));
    // the private export opens with the session cookie alone
    let (ids, _) = walk_ids(&mut s, vec![], true).unwrap();
    assert_each_once(&ids, 1..=30);
    let reqs = gn.requests();
    assert_eq!(reqs[0], "POST /geonature/api/auth/login");
    assert_eq!(reqs[1], "GET /geonature/api/gn_commons/modules");
    assert!(
        reqs.iter().all(|r| !r.contains("admin") && !r.contains("token")),
        "{reqs:?}"
    );
    assert!(s.stats().server_date.is_some());
    assert!(s.stats().bytes > 0 && s.stats().requests == 3);
}

#[test]
fn wrong_password_is_an_auth_error_without_retries() {
    let gn = start(5);
    let mut cfg = admin(&gn);
    cfg.password = Some("hunter2-wrong".into());
    let mut s = session(cfg);
    let e = s.module_path().unwrap_err();
    assert!(matches!(e, ClientError::Auth { status: Some(401), .. }), "{e:?}");
    assert_eq!(gn.requests().len(), 1, "no retry of a refused login");
    let text = format!("{e} | {} | {} | {e:?}", e.detail(), e.hint());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("/api/auth/login"), "{text}");
}

#[test]
fn no_exports_module_for_a_user_without_permission() {
    let gn = start(5);
    let mut cfg = base_cfg(&gn);
    cfg.login = Some("observer".into());
    cfg.password = Some("observer".into());
    let e = session(cfg).module_path().unwrap_err();
    assert!(matches!(e, ClientError::NoExportsModule { .. }), "{e:?}");
    assert!(e.hint().contains("EXPORTS"));
    assert!(e.to_string().ends_with("/geonature/api/gn_commons/modules"), "{e}");
}

#[test]
fn module_path_override_and_anonymous_default() {
    let gn = start(5);
    let mut cfg = admin(&gn);
    cfg.module_path = Some("/exports/".into());
    let mut s = session(cfg);
    assert_eq!(s.module_path().unwrap(), "exports");
    assert!(!gn.requests().iter().any(|r| r.contains("gn_commons")));
    let mut s = session(base_cfg(&gn));
    assert_eq!(s.module_path().unwrap(), "exports");
    assert_eq!(
        s.stats().requests,
        0,
        "a public/token source needs no request to know it"
    );
}

#[test]
fn token_only_private_export_uses_the_api_key_header() {
    let gn = start(40);
    let mut s = session(token1(&gn));
    let (ids, _) = walk_ids(&mut s, vec![], true).unwrap();
    assert_each_once(&ids, 1..=40);
    assert_eq!(gn.logins(), 0);
    assert!(
        gn.requests().iter().all(|r| !r.contains("export1-token")),
        "never in a URL"
    );

    let mut cfg = token1(&gn);
    cfg.token = Some("tok-wrong-secret".into());
    let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::Forbidden { with_token: true, .. }), "{e:?}");
    assert!(!format!("{e} {} {}", e.detail(), e.hint()).contains("tok-wrong-secret"));
    let e = walk_ids(&mut session(base_cfg(&gn)), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::Forbidden { with_token: false, .. }), "{e:?}");

    let mut cfg = token1(&gn);
    cfg.export_id = 99;
    let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::ExportNotFound { export_id: 99, .. }), "{e:?}");
    assert!(e.hint().contains("no export 99 at http://127.0.0.1:"), "{}", e.hint());
}

#[test]
fn public_feature_collection_export() {
    let gn = start(2500);
    let mut cfg = base_cfg(&gn);
    cfg.export_id = 3;
    let events = collect(cfg, PullPlan::default());
    let with_geometry: Vec<i64> = (1..=2500)
        .filter(|id| {
            let row: Value = serde_json::from_str(&gn.item_json(3, *id).unwrap()).unwrap();
            !row["wkt_4326"].is_null()
        })
        .collect();
    assert!(with_geometry.len() < 2500, "the data has NULL geometries");
    let ps = pages(&events);
    assert!(ps.iter().all(|p| p.feature_collection && p.errors == 0));
    let ids: Vec<i64> = ps.iter().flat_map(|p| p.ids.clone()).collect();
    assert_each_once(&ids, with_geometry);
    assert_eq!(
        export_requests(&gn, 3).len(),
        3,
        "short FeatureCollection pages are not the end"
    );
    for p in ps {
        let payload: Value = serde_json::from_str(&p.payload()).unwrap();
        assert!(payload.as_array().unwrap().iter().all(|r| r["g"]
            .as_str()
            .is_some_and(|g| g.starts_with("0101000020E6100000") || g.starts_with("0103000020E6100000"))));
    }
    assert_eq!(finished(&events).pages, 3);
}

// ----- paging --------------------------------------------------------------------------------

#[test]
fn keyset_pull_delivers_every_id_once_with_one_request_per_page() {
    let gn = start(2500);
    let events = collect(token1(&gn), PullPlan::default());
    assert!(matches!(&events[0], Event::Started { module_path } if module_path == "exports"));
    let ps = pages(&events);
    assert_eq!(ps.iter().map(|p| p.index).collect::<Vec<_>>(), vec![0, 1, 2]);
    let ids: Vec<i64> = ps.iter().flat_map(|p| p.ids.clone()).collect();
    assert_each_once(&ids, 1..=2500);
    let reqs = export_requests(&gn, 1);
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert!(
        reqs[0].ends_with("?limit=1000&offset=0&orderby=id_synthese"),
        "{}",
        reqs[0]
    );
    assert!(reqs[1].contains("filter_n_up_id_synthese=1001"));
    assert!(reqs[2].contains("filter_n_up_id_synthese=2001"));
    let st = finished(&events);
    assert_eq!(
        (st.pages, st.requests, st.retries, st.keyset_fallback),
        (3, 3, 0, false)
    );
    assert_eq!(st.bytes, ps.iter().map(|p| p.bytes).sum::<u64>());
    assert!(st.server_date.is_some());
    // prepared exactly: the payload's items are the API's items
    let payload: Value = serde_json::from_str(&ps[0].payload()).unwrap();
    let first = &payload[0];
    let api: Value = serde_json::from_str(&gn.item_json(1, 1).unwrap()).unwrap();
    assert_eq!(first["i"], api);
    assert_eq!(first["id"], 1);
    assert_eq!(first["u"], api["id_perm_sinp"]);
    assert!(ps[0].max_derniere_action.is_some());

    // a count that is a multiple of the page: still no extra request
    let gn = start(3000);
    let events = collect(token1(&gn), PullPlan::default());
    assert_eq!(pages(&events).len(), 3);
    assert_eq!(export_requests(&gn, 1).len(), 3);
}

#[test]
fn capped_page_size_is_read_from_the_reply() {
    let gn = start(2300);
    let mut cfg = token1(&gn);
    cfg.page_size = 5000;
    let mut s = session(cfg);
    let (ids, w) = walk_ids(&mut s, vec![], true).unwrap();
    assert_each_once(&ids, 1..=2300);
    let reqs = export_requests(&gn, 1);
    assert_eq!(reqs.len(), 3, "L = 1000 from the reply");
    assert!(reqs.iter().all(|r| r.contains("limit=5000")));
    assert_eq!(w.pages_delivered(), 3);
}

#[test]
fn offset_paging_when_asked() {
    let gn = start(2100);
    let mut s = session(token1(&gn));
    let (ids, w) = walk_ids(&mut s, vec![], false).unwrap();
    assert_each_once(&ids, 1..=2100);
    let reqs = export_requests(&gn, 1);
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].contains("offset=2&orderby=id_synthese"), "{}", reqs[2]);
    assert!(!w.keyset_fallback());
}

#[test]
fn falls_back_to_offset_paging_when_the_server_ignores_the_bound() {
    let gn = start(2500);
    gn.set_faults(Faults {
        ignore_keyset: true,
        ..Faults::default()
    });
    let events = collect(token1(&gn), PullPlan::default());
    let ids: Vec<i64> = pages(&events).iter().flat_map(|p| p.ids.clone()).collect();
    assert_each_once(&ids, 1..=2500);
    let reqs = export_requests(&gn, 1);
    assert_eq!(reqs.len(), 4, "one extra (discarded) request: {reqs:#?}");
    assert!(reqs[1].contains("filter_n_up_id_synthese=1001"));
    assert!(reqs[2].contains("offset=1&orderby=id_synthese") && !reqs[2].contains("filter_n_up"));
    assert!(reqs[3].contains("offset=2&orderby=id_synthese"));
    let st = finished(&events);
    assert!(st.keyset_fallback);
    assert_eq!(st.pages, 3);
}

// ----- faults and retries ----------------------------------------------------------------------

#[test]
fn every_fault_kind_is_recovered_by_retries() {
    let kinds = [
        (
            "503 + Retry-After",
            FaultAction::Status {
                status: 503,
                retry_after: Some(1),
            },
        ),
        (
            "429 + Retry-After",
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
            },
        ),
        (
            "500",
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        ),
        ("truncated body", FaultAction::Truncate),
        ("garbage body", FaultAction::Garbage),
        ("slow reply", FaultAction::Delay { ms: 2500 }),
    ];
    for (name, action) in kinds {
        let gn = start(2500);
        let with_retry_after = matches!(
            action,
            FaultAction::Status {
                retry_after: Some(_),
                ..
            }
        );
        gn.add_fault(fault("/api/exports", action, 2, 1));
        let mut cfg = token1(&gn);
        // short enough for the slow replies to time out, long enough for a normal page under load
        cfg.read_timeout = Duration::from_secs(1);
        cfg.backoff_cap = Duration::from_secs(5);
        let started = Instant::now();
        let events = collect(cfg, PullPlan::default());
        let ids: Vec<i64> = pages(&events).iter().flat_map(|p| p.ids.clone()).collect();
        assert_each_once(&ids, 1..=2500);
        let st = finished(&events);
        assert_eq!(st.retries, 2, "{name}");
        assert_eq!(export_requests(&gn, 1).len(), 5, "{name}");
        if with_retry_after {
            assert!(
                started.elapsed() >= Duration::from_secs(2),
                "{name}: Retry-After honoured ({:?})",
                started.elapsed()
            );
        }
    }
}

#[test]
fn retry_after_is_capped_by_the_backoff_cap() {
    let gn = start(10);
    gn.add_fault(fault(
        "/api/exports",
        FaultAction::Status {
            status: 503,
            retry_after: Some(30),
        },
        1,
        0,
    ));
    let started = Instant::now();
    let (ids, _) = walk_ids(&mut session(token1(&gn)), vec![], true).unwrap();
    assert_each_once(&ids, 1..=10);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[test]
fn exhausted_retries_report_the_last_failure() {
    let gn = start(10);
    gn.add_fault(fault(
        "/api/exports",
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
        10,
        0,
    ));
    let mut cfg = token1(&gn);
    cfg.max_retries = 2;
    let e = walk_ids(&mut session(cfg.clone()), vec![], true).unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Http {
                status: 503,
                attempts: 3,
                page: Some(0),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(export_requests(&gn, 1).len(), 3);
    assert!(e.to_string().contains("after 3 attempts"), "{e}");

    // an HTML reply that never turns into JSON: not an export page
    gn.set_faults(Faults::default());
    gn.add_fault(fault("/api/exports", FaultAction::Garbage, 10, 0));
    let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::NotAnExport { .. }), "{e:?}");
    assert!(e.detail().contains("HTML"), "{}", e.detail());
}

#[test]
fn secrets_never_reach_messages() {
    let gn = start(10);
    // the server echoes a bad filter value in its 500 body: a token there is masked
    let mut cfg = token1(&gn);
    cfg.query_strings = vec![("filter_d_up_derniere_action".into(), "export1-token".into())];
    cfg.max_retries = 0;
    let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::Http { status: 500, .. }), "{e:?}");
    let text = format!("{e} {} {} {e:?}", e.detail(), e.hint());
    assert!(text.contains("Unknown string format: ***"), "{text}");
    assert!(!text.contains("export1-token"), "{text}");

    let bad = SourceConfig {
        url: "http://someone:pa55word@127.0.0.1:1/geonature?token=tok-s3cret-value".into(),
        password: Some("pa55word".into()),
        token: Some("tok-s3cret-value".into()),
        ..SourceConfig::default()
    };
    let e = Session::new(bad.clone(), CancelFlag::new()).unwrap_err();
    assert!(matches!(e, ClientError::InvalidUrl { .. }), "{e:?}");
    let text = format!("{e} {} {} {:?} {:?}", e.detail(), e.hint(), e, bad);
    assert!(
        !text.contains("pa55word") && !text.contains("tok-s3cret-value"),
        "{text}"
    );
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let gn = start(1);
    let url = gn.url();
    gn.stop();
    let cfg = SourceConfig {
        url,
        token: Some("t".into()),
        max_retries: 1,
        backoff_base: Duration::from_millis(5),
        ..SourceConfig::default()
    };
    let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::Connect { attempts: 2, .. }), "{e:?}");
}

// ----- sessions, windows, deletions, metadata ----------------------------------------------------

#[test]
fn expiring_sessions_are_renewed_transparently() {
    let gn = start(5000);
    gn.set_faults(Faults {
        session_max_requests: Some(3),
        ..Faults::default()
    });
    let since = gn.now();
    let m = gn.mutate(&MutationRequest {
        delete: 3,
        ..Default::default()
    });
    let events = collect(
        admin(&gn),
        PullPlan {
            deletions_since: Some(since),
            ..PullPlan::default()
        },
    );
    let deleted = match &events[1] {
        Event::Deletions(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(deleted, m.deleted);
    let ids: Vec<i64> = pages(&events).iter().flat_map(|p| p.ids.clone()).collect();
    assert_each_once(&ids, (1..=5000).filter(|i| !m.deleted.contains(i)));
    let st = finished(&events);
    assert!(st.logins >= 3, "{st:?}");
    assert_eq!(st.logins, gn.logins());
}

#[test]
fn incremental_window_returns_only_changed_rows() {
    let gn = start(3000);
    let before = gn.now();
    let m = gn.mutate(&MutationRequest {
        update: 5,
        insert: 3,
        ..Default::default()
    });
    let window = vec![Filter::new(
        FilterOp::DateGe,
        "derniere_action",
        gn_protocol::time::format_timestamp(&before),
    )];
    let events = collect(
        token1(&gn),
        PullPlan {
            window,
            ..PullPlan::default()
        },
    );
    let ps = pages(&events);
    let ids: Vec<i64> = ps.iter().flat_map(|p| p.ids.clone()).collect();
    let want: BTreeSet<i64> = m.updated.iter().chain(m.inserted.iter()).copied().collect();
    assert_each_once(&ids, want);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].max_derniere_action, gn_protocol::time::parse_timestamp(&m.at));
    assert_eq!(export_requests(&gn, 1).len(), 1);
}

#[test]
fn deletions_come_from_the_log_page_by_page() {
    let gn = start(3000);
    let since = gn.now();
    let m = gn.mutate(&MutationRequest {
        delete: 1500,
        ..Default::default()
    });
    let mut s = session(admin(&gn));
    let ids = s.fetch_deletions(since).unwrap();
    assert_eq!(ids, m.deleted);
    let log: Vec<String> = gn
        .requests()
        .into_iter()
        .filter(|r| r.contains("/synthese/log"))
        .collect();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log[0].contains("last_action=D") && log[0].contains("limit=1000") && log[0].contains("page=1"));
    assert!(log[0].contains("meta_last_action_date=gte%3A"));
    assert!(log[1].contains("page=2"));
    assert_eq!(
        s.fetch_deletions(gn.now() + chrono::Duration::seconds(5)).unwrap(),
        Vec::<i64>::new()
    );
    // a token-only source cannot read the log
    let e = session(token1(&gn)).fetch_deletions(since).unwrap_err();
    assert!(matches!(e, ClientError::Auth { .. }), "{e:?}");
}

#[test]
fn metadata_export_and_embedded_metadata() {
    let gn = start(300);
    let mut cfg = admin(&gn);
    cfg.export_id = 2;
    cfg.metadata_export_id = Some(4);
    cfg.page_size = 2; // several metadata pages
    let events = collect(
        cfg,
        PullPlan {
            metadata_export: true,
            ..PullPlan::default()
        },
    );
    let meta: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Metadata(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(meta.len(), 2, "3 frameworks in pages of 2");
    let rows: Vec<_> = meta.into_iter().flatten().collect();
    let afs: Vec<_> = rows.iter().filter(|r| r.level == "acquisition framework").collect();
    let dss: Vec<_> = rows.iter().filter(|r| r.level == "dataset").collect();
    assert_eq!((afs.len(), dss.len()), (3, 8));
    assert!(afs.iter().all(|a| a.item.get("datasets").is_none()));
    assert!(dss
        .iter()
        .all(|d| afs.iter().any(|a| a.item["uuid"] == d.item["ca_uuid"])));
    // the embedded objects of export 2 refer to the same frameworks and datasets
    let ps = pages(&events);
    assert!(!ps.is_empty());
    let first_page = events.iter().position(|e| matches!(e, Event::Page(_))).unwrap();
    assert!(
        events[..first_page].iter().any(|e| matches!(e, Event::Metadata(_))),
        "metadata before data"
    );
    for p in &ps {
        let embedded: Value = serde_json::from_str(p.metadata_payload.as_ref().unwrap()).unwrap();
        for m in embedded.as_array().unwrap() {
            assert!(rows.iter().any(|r| r.uuid == m["uuid"].as_str().unwrap()), "{m}");
        }
        let payload: Value = serde_json::from_str(&p.payload()).unwrap();
        for r in payload.as_array().unwrap() {
            assert!(r["i"].get("ca_data").is_none() && r["i"]["ca_uuid"].is_string());
            // the stand-in's rows in a dataset absent from the metadata export (id % 200 == 91)
            // have jdd_data null: left in the item, as GN2PG does
            let missing_dataset = r["i"]["id_synthese"].as_i64().unwrap() % 200 == 91;
            if missing_dataset {
                assert!(r["i"]["jdd_data"].is_null() && r["i"].get("jdd_uuid").is_none(), "{r}");
            } else {
                assert!(r["i"].get("jdd_data").is_none() && r["i"]["jdd_uuid"].is_string());
            }
        }
    }
    assert_eq!(pages(&events).iter().map(|p| p.items).sum::<usize>(), 300);

    // a token opens only its own export: the metadata export (token export4-token) is refused
    let mut cfg = token1(&gn);
    cfg.metadata_export_id = Some(4);
    let events = collect(
        cfg,
        PullPlan {
            metadata_export: true,
            ..PullPlan::default()
        },
    );
    match events.last() {
        Some(Event::Failed(e @ ClientError::Forbidden { export_id: 4, .. })) => {
            assert!(e.hint().contains("same token"), "{}", e.hint())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn probe_checks_one_row() {
    let gn = start(50);
    let mut cfg = admin(&gn);
    cfg.metadata_export_id = Some(4);
    let r = gn_client::probe(&cfg, &CancelFlag::new()).unwrap();
    assert_eq!(
        (r.module_path.as_str(), r.total, r.first_id, r.feature_collection),
        ("exports", 50, Some(1), false)
    );
    let reqs = export_requests(&gn, 1);
    assert_eq!(
        reqs,
        vec!["GET /geonature/api/exports/api/1?limit=1&offset=0&orderby=id_synthese".to_string()]
    );
    assert!(export_requests(&gn, 4)[0].ends_with("/4?limit=1&offset=0"));

    let mut public = base_cfg(&gn);
    public.export_id = 3;
    assert!(
        gn_client::probe(&public, &CancelFlag::new())
            .unwrap()
            .feature_collection
    );

    // the metadata export is no Synthese view: GeoNature refuses to order it by id_synthese
    let mut not_synthese = admin(&gn);
    not_synthese.export_id = 4;
    let e = gn_client::probe(&not_synthese, &CancelFlag::new()).unwrap_err();
    assert!(matches!(e, ClientError::Http { status: 400, .. }), "{e:?}");
    assert!(
        e.detail().contains("No column name id_synthese to sort with"),
        "{}",
        e.detail()
    );
}

// ----- cancellation ------------------------------------------------------------------------------

#[test]
fn cancel_interrupts_a_long_backoff() {
    let gn = start(10);
    gn.add_fault(fault(
        "/api/exports",
        FaultAction::Status {
            status: 503,
            retry_after: Some(30),
        },
        1,
        0,
    ));
    let mut cfg = token1(&gn);
    cfg.backoff_cap = Duration::from_secs(60);
    let cancel = CancelFlag::new();
    let h = spawn_pull(cfg, PullPlan::default(), cancel.clone());
    assert!(matches!(
        h.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Started { .. })
    ));
    std::thread::sleep(Duration::from_millis(300)); // the worker is now sleeping 30 s
    let t = Instant::now();
    cancel.cancel();
    let ev = h.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(ev, Event::Failed(ClientError::Cancelled));
    assert!(t.elapsed() < Duration::from_millis(150), "{:?}", t.elapsed());
}

#[test]
fn dropping_the_handle_stops_the_worker() {
    let gn = start(50_000);
    // slow every page a little so the pull would take seconds
    gn.add_fault(fault("/api/exports", FaultAction::Delay { ms: 50 }, 1000, 0));
    let h = spawn_pull(token1(&gn), PullPlan::default(), CancelFlag::new());
    let probe = h.worker_probe();
    assert!(matches!(
        h.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Started { .. })
    ));
    assert!(matches!(h.recv_timeout(Duration::from_secs(5)), Ok(Event::Page(_))));
    assert!(probe.is_alive());
    drop(h);
    let t = Instant::now();
    while probe.is_alive() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!probe.is_alive(), "the worker exits once the handle is gone");
    let n = export_requests(&gn, 1).len();
    assert!(n < 10, "{n} requests");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(export_requests(&gn, 1).len(), n, "no request after the worker stopped");
}

// ----- offset passes, hostile servers, run time ----------------------------------------------

fn delivered_ids(events: &[Event]) -> BTreeSet<i64> {
    pages(events).iter().flat_map(|p| p.ids.iter().copied()).collect()
}

fn live_ids(gn: &FakeGeoNature, max: i64) -> BTreeSet<i64> {
    (1..=max).filter(|id| gn.item_json(1, *id).is_some()).collect()
}

fn last_pass_ids(events: &[Event], pass: u32) -> BTreeSet<i64> {
    pages(events)
        .iter()
        .filter(|p| p.pass == pass)
        .flat_map(|p| p.ids.iter().copied())
        .collect()
}

/// The ids delivered (union over passes) hold every id still served, plus only ids deleted
/// during the walk; the last pass alone holds exactly the ids still served.
fn assert_delivers_live(events: &[Event], live: &BTreeSet<i64>, deleted: &[i64], last_pass: u32) {
    let all = delivered_ids(events);
    let missing: Vec<_> = live.difference(&all).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let extra: Vec<i64> = all.difference(live).copied().collect();
    assert!(extra.iter().all(|id| deleted.contains(id)), "extra: {extra:?}");
    let last = last_pass_ids(events, last_pass);
    assert!(last == *live, "last pass: {} ids, {} live", last.len(), live.len());
}

fn offset_plan() -> PullPlan {
    PullPlan {
        keyset: false,
        ..PullPlan::default()
    }
}

fn mutate_rule(m: MutationRequest, times: u64, after: u64) -> FaultRule {
    fault("/api/exports", FaultAction::Mutate { mutation: m }, times, after)
}

fn delete_3_to_7() -> MutationRequest {
    MutationRequest {
        delete_ids: (3..=7).collect(),
        ..MutationRequest::default()
    }
}

#[test]
fn offset_walk_walks_again_after_a_deletion_in_the_middle() {
    // one pass only: the rows shifted onto page 4 are lost (the defect), and the walk says so
    let gn = start(6000);
    gn.add_fault(mutate_rule(delete_3_to_7(), 1, 5));
    let mut cfg = token1(&gn);
    cfg.page_size = 500;
    cfg.max_walk_passes = 1;
    let events = collect(cfg.clone(), offset_plan());
    let st = finished(&events);
    assert_eq!((st.complete, st.passes), (false, 1));
    let missing: Vec<i64> = live_ids(&gn, 6000)
        .difference(&delivered_ids(&events))
        .copied()
        .collect();
    assert_eq!(missing, (2501..=2505).collect::<Vec<_>>());

    // with passes (default 3): a second pass from page 0 delivers everything still served
    let gn = start(6000);
    gn.add_fault(mutate_rule(delete_3_to_7(), 1, 5));
    cfg.url = gn.url();
    cfg.max_walk_passes = 3;
    let events = collect(cfg.clone(), offset_plan());
    let st = finished(&events);
    assert_eq!((st.complete, st.passes), (true, 2), "{st:?}");
    assert_delivers_live(&events, &live_ids(&gn, 6000), &[3, 4, 5, 6, 7], 2);
    assert_eq!(st.pages, 12 + 12);
    assert!(
        pages(&events).iter().all(|p| !p.reconcilable),
        "offset pages are not reconcilable"
    );
    assert_eq!(export_requests(&gn, 1).len(), 24);

    // the same after the automatic fallback from keyset paging
    let gn = start(6000);
    gn.set_faults(Faults {
        ignore_keyset: true,
        ..Faults::default()
    });
    gn.add_fault(mutate_rule(delete_3_to_7(), 1, 5));
    cfg.url = gn.url();
    let events = collect(cfg.clone(), PullPlan::default());
    let st = finished(&events);
    assert!(st.keyset_fallback);
    assert_eq!((st.complete, st.passes), (true, 2), "{st:?}");
    assert_delivers_live(&events, &live_ids(&gn, 6000), &[3, 4, 5, 6, 7], 2);

    // keyset paging needs no second pass: its pages are ranges
    let gn = start(6000);
    gn.add_fault(mutate_rule(delete_3_to_7(), 1, 5));
    cfg.url = gn.url();
    let events = collect(cfg, PullPlan::default());
    let st = finished(&events);
    assert_eq!((st.complete, st.passes, st.pages), (true, 1, 12));
    assert!(pages(&events).iter().all(|p| p.reconcilable));
    assert!(live_ids(&gn, 6000).is_subset(&delivered_ids(&events)));
}

#[test]
fn offset_walk_sees_a_deletion_hidden_by_an_insertion_in_the_log() {
    // one row deleted and one inserted: total and total_filtered do not move, the log does
    let gn = start(3000);
    gn.add_fault(mutate_rule(
        MutationRequest {
            insert: 1,
            delete_ids: vec![3],
            ..MutationRequest::default()
        },
        1,
        3,
    ));
    let mut cfg = admin(&gn);
    cfg.page_size = 500;
    let plan = PullPlan {
        keyset: false,
        deletions_since: Some(gn_protocol::time::parse_timestamp("2000-01-01 00:00:00").unwrap()),
        ..PullPlan::default()
    };
    let events = collect(cfg, plan);
    let st = finished(&events);
    assert_eq!((st.complete, st.passes), (true, 2), "{st:?}");
    assert_eq!(st.late_deletions, vec![3]);
    assert_delivers_live(&events, &live_ids(&gn, 3001), &[3], 2);
}

#[test]
fn a_source_that_keeps_changing_ends_incomplete() {
    let gn = start(3000);
    gn.add_fault(mutate_rule(
        MutationRequest {
            delete: 1,
            ..MutationRequest::default()
        },
        10_000,
        0,
    ));
    let mut cfg = token1(&gn);
    cfg.page_size = 500;
    let events = collect(cfg.clone(), offset_plan());
    let st = finished(&events);
    assert_eq!((st.complete, st.passes), (false, 3), "{st:?}");
    cfg.max_walk_passes = 5;
    let st = finished(&collect(cfg, offset_plan())).clone();
    assert_eq!((st.complete, st.passes), (false, 5), "{st:?}");
    // the walk API says the same
    let mut s = session(token1(&gn));
    let (_, w) = walk_ids(&mut s, vec![], false).unwrap();
    assert!(w.is_done() && !w.is_complete());
    gn.set_faults(Faults::default());
    let (_, w) = walk_ids(&mut s, vec![], false).unwrap();
    assert!(w.is_complete() && w.passes() == 1);
}

#[test]
fn a_future_dated_row_gives_a_capped_watermark_with_a_warning() {
    use chrono::{Duration as CDuration, Utc};
    let gn = start(100);
    // the stand-in's clock moves its Date header and its derniere_action together
    gn.set_clock_offset(7200.0);
    gn.mutate(&MutationRequest {
        update_ids: vec![6],
        ..MutationRequest::default()
    });
    let events = collect(token1(&gn), PullPlan::default());
    let st = finished(&events).clone();
    let date = st.server_date.expect("Date of the last walk reply");
    let first = st.server_date_first.expect("Date of the first walk reply");
    assert!(first <= date);
    assert!(
        (date - Utc::now() - CDuration::hours(2)).num_seconds().abs() < 10,
        "{date}"
    );
    let seen = st.max_derniere_action.expect("derniere_action");
    assert!((seen - date.naive_utc()).num_seconds().abs() < 10, "{seen} vs {date}");
    let (w, warn) = gn_client::bound_watermark(Some(seen), Some(date.naive_utc()), CDuration::days(1));
    assert_eq!((w, warn), (Some(seen), None), "a current row is not capped");

    // a row dated ten years ahead
    let future = gn.now() + CDuration::days(3653);
    let future_text = gn_protocol::time::format_timestamp(&future);
    gn.mutate(&MutationRequest {
        update_ids: vec![5],
        at: Some(future_text.clone()),
        ..MutationRequest::default()
    });
    let events = collect(token1(&gn), PullPlan::default());
    let st = finished(&events).clone();
    let seen = st.max_derniere_action.expect("derniere_action");
    assert!(seen > gn.now() + CDuration::days(3600), "{seen}");
    let now = st.server_date.expect("Date").naive_utc();
    let (w, warn) = gn_client::bound_watermark(Some(seen), Some(now), CDuration::days(1));
    assert_eq!(w, Some(now - CDuration::days(1)));
    let warn = warn.expect("a warning");
    assert!(warn.contains(&future_text[..19]), "{warn}");
}

#[test]
fn oversized_replies_fail_without_retries() {
    for chunked in [false, true] {
        let gn = start(10);
        gn.add_fault(fault(
            "/api/exports",
            FaultAction::Huge {
                bytes: 5 << 20,
                chunked,
            },
            3,
            0,
        ));
        let mut cfg = token1(&gn);
        cfg.max_reply_bytes = 1 << 20;
        let e = walk_ids(&mut session(cfg), vec![], true).unwrap_err();
        match &e {
            ClientError::ReplyTooLarge { limit, announced, .. } => {
                assert_eq!(*limit, 1 << 20);
                assert_eq!(*announced, (!chunked).then_some(5 << 20));
            }
            other => panic!("{other:?}"),
        }
        assert!(!e.is_retryable());
        assert!(e.hint().contains("gn_flux.max_reply_size"), "{}", e.hint());
        assert!(e.detail().contains("limit: 1048576 bytes"), "{}", e.detail());
        assert_eq!(export_requests(&gn, 1).len(), 1, "not retried");
    }
    // the default limit lets normal pages through
    let gn = start(1500);
    let (ids, _) = walk_ids(&mut session(token1(&gn)), vec![], true).unwrap();
    assert_each_once(&ids, 1..=1500);
}

#[test]
fn a_walk_that_makes_no_progress_stops() {
    // the same page again on page-index paging
    let gn = start(3000);
    gn.add_fault(fault("/api/exports", FaultAction::Repeat, 100, 1));
    let e = walk_ids(&mut session(token1(&gn)), vec![], false).unwrap_err();
    assert!(matches!(e, ClientError::NoProgress { page: Some(1), .. }), "{e:?}");
    assert!(e.hint().contains("same rows"), "{}", e.hint());
    assert_eq!(export_requests(&gn, 1).len(), 2);

    // the same page again on keyset paging (falls back, then stops)
    let gn = start(3000);
    gn.add_fault(fault("/api/exports", FaultAction::Repeat, 100, 1));
    let e = walk_ids(&mut session(token1(&gn)), vec![], true).unwrap_err();
    assert!(matches!(e, ClientError::NoProgress { .. }), "{e:?}");
    assert!(export_requests(&gn, 1).len() <= 4);

    // an id_synthese at i64::MAX with more rows announced: the bound cannot advance
    let gn = start(10);
    let body = format!(
        r#"{{"items": [{{"id_synthese": {}, "id_perm_sinp": null, "derniere_action": "2024-01-01 00:00:00"}}], "limit": 1, "page": 0, "total": 5, "total_filtered": 5}}"#,
        i64::MAX
    );
    gn.add_fault(fault("/api/exports", FaultAction::Reply { status: 200, body }, 100, 0));
    let e = walk_ids(&mut session(token1(&gn)), vec![], true).unwrap_err();
    match &e {
        ClientError::NoProgress { reason, .. } => assert!(reason.contains(&i64::MAX.to_string()), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(export_requests(&gn, 1).len(), 1);
}

#[test]
fn max_run_time_stops_a_pull_in_backoff_and_in_a_slow_reply() {
    let gn = start(10);
    gn.add_fault(fault(
        "/api/exports",
        FaultAction::Status {
            status: 503,
            retry_after: Some(30),
        },
        1,
        0,
    ));
    let mut cfg = token1(&gn);
    cfg.backoff_cap = Duration::from_secs(60);
    cfg.max_run_time = Some(Duration::from_millis(400));
    let t = Instant::now();
    let events = collect(cfg.clone(), PullPlan::default());
    match events.last() {
        Some(Event::Failed(e @ ClientError::RunTimeExceeded { limit, .. })) => {
            assert_eq!(*limit, Duration::from_millis(400));
            assert!(e.hint().contains("max_run_time"), "{}", e.hint());
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());

    gn.set_faults(Faults::default());
    gn.add_fault(fault("/api/exports", FaultAction::Delay { ms: 3000 }, 1, 0));
    cfg.max_run_time = Some(Duration::from_millis(500));
    let t = Instant::now();
    let events = collect(cfg.clone(), PullPlan::default());
    assert!(
        matches!(events.last(), Some(Event::Failed(ClientError::RunTimeExceeded { .. }))),
        "{:?}",
        events.last()
    );
    assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());

    // a generous limit changes nothing
    cfg.max_run_time = Some(Duration::from_secs(60));
    assert!(finished(&collect(cfg, PullPlan::default())).complete);
}

#[test]
fn a_cancelled_probe_stops_during_its_backoff() {
    let gn = start(10);
    gn.add_fault(fault(
        "/api/exports",
        FaultAction::Status {
            status: 503,
            retry_after: Some(30),
        },
        1,
        0,
    ));
    let mut cfg = token1(&gn);
    cfg.backoff_cap = Duration::from_secs(60);
    let cancel = CancelFlag::new();
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        c2.cancel();
        Instant::now()
    });
    let r = gn_client::probe(&cfg, &cancel);
    let stopped = Instant::now();
    let cancelled_at = t.join().unwrap();
    assert_eq!(r, Err(ClientError::Cancelled));
    assert!(
        stopped.saturating_duration_since(cancelled_at) < Duration::from_millis(100),
        "{:?}",
        stopped.saturating_duration_since(cancelled_at)
    );
}
