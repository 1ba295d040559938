//! pull_source() over libpq against the GeoNature stand-in, started in this process on 127.0.0.1:
//! exact results, GN2PG log rows, updates and deletions, every fault kind, staging untouched by a
//! failed run, secrets, DBA triggers, a planted operator, pg_cron schedules.
//!
//! Needs GN_FLUX_E2E_DSN (a superuser on a database with gn_flux) and, for the schedule test,
//! GN_FLUX_E2E_CRON_DSN (the database pg_cron runs in); tests/e2e/run.sh sets both and runs the
//! tests one at a time (--test-threads=1). Each test starts by dropping every source (uuids are
//! unique across sources, and the tests serve the same synthetic observations) and what an
//! interrupted earlier run may have left; what a test creates besides sources (roles, schemas,
//! tables, triggers) is removed by a [`Cleanup`] guard, also when the test fails.
use gn_flux_e2e::fixtures::{
    add_source, assert_exact, checksum, connect, count, delay, fault, fresh, message, pull, secrets_dir, sqlstate,
    stand_in, status, Cleanup, CRON_DSN, DSN, EXPORTS,
};
use gn_flux_e2e::{Client, FaultAction, Faults, MutationRequest};

/// The stand-in's seed for every test of this file.
const SEED: u64 = 11;

/// A connection to the pull database, with every source dropped and the runs of `names`
/// forgotten.
fn start(names: &[&str]) -> Client {
    let mut c = connect(DSN);
    fresh(&mut c, names);
    c
}

#[test]
fn full_pull_is_exact_with_geometries_and_gn2pg_log() {
    let mut c = start(&["src_full"]);
    let gn = stand_in(SEED, 2500);
    add_source(&mut c, "src_full", &gn, 1, &[]);
    gn.clear_requests();
    let p = pull(&mut c, "src_full", "auto");
    assert_eq!((p.mode.as_str(), p.status.as_str()), ("full", "success"), "{p:?}");
    assert_eq!(
        (
            p.pages,
            p.items,
            p.inserted,
            p.updated,
            p.unchanged,
            p.deleted,
            p.errors
        ),
        (3, 2500, 2500, 0, 0, 0, 0)
    );
    assert_exact(&mut c, &gn, "src_full", 1);
    // geometry built from wkt_4326
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full'
              AND (geom IS NULL) <> (item->>'wkt_4326' IS NULL)"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full' AND geom IS NOT NULL
              AND NOT ST_Equals(geom, ST_GeomFromText(item->>'wkt_4326', 4326))"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full' AND ST_SRID(geom) <> 4326"
        ),
        0
    );
    // GN2PG columns: controler, type, uuid = id_perm_sinp
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full'
              AND (controler <> 'data' OR type <> 'synthese_with_cd_nomenclature' OR uuid::text <> item->>'id_perm_sinp' OR import_id <> (SELECT max(id) FROM gn_flux.import_log))"
        ),
        0
    );
    let row = c
        .query_one(
            "SELECT xfer_status, xfer_type, xfer_filters::text FROM gn_flux.import_log WHERE id = $1",
            &[&p.import_id],
        )
        .unwrap();
    let (status, typ, filters): (Option<String>, Option<String>, Option<String>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((status.as_deref(), typ.as_deref()), (Some("success"), Some("full")));
    assert_eq!(filters.as_deref(), Some(r#"["{\"limit\": 1000}"]"#));
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM gn_flux.import_log WHERE id = {} AND api_count_items = 2500 AND data_count_upserts = 2500
                   AND pages = 3 AND paging = 'keyset' AND xfer_end_ts >= xfer_start_ts",
                p.import_id.unwrap()
            )
        ),
        1
    );
    // one request per page, keyset bounds, never a page twice
    let pages: Vec<String> = gn
        .requests()
        .into_iter()
        .filter(|r| r.contains("/api/exports/api/1"))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages[1].contains("filter_n_up_id_synthese=1001") && pages[2].contains("filter_n_up_id_synthese=2001"),
        "{pages:?}"
    );
    // a second full pull rewrites nothing
    let again = pull(&mut c, "src_full", "full");
    assert_eq!(
        (again.inserted, again.updated, again.unchanged, again.deleted),
        (0, 0, 2500, 0),
        "{again:?}"
    );
}

#[test]
fn metadata_objects_move_to_metadata_json() {
    let mut c = start(&["src_meta"]);
    let gn = stand_in(SEED, 300);
    add_source(&mut c, "src_meta", &gn, 2, &[("data_type", "'synthese_with_metadata'")]);
    let p = pull(&mut c, "src_meta", "full");
    assert_eq!((p.status.as_str(), p.items, p.errors), ("success", 300, 0), "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_meta'
               AND (item ? 'ca_data' OR jsonb_typeof(item->'jdd_data') IS DISTINCT FROM 'null' AND item ? 'jdd_data')"
        ),
        0
    );
    // The stand-in's rows with id % 200 = 91 belong to a dataset the export cannot see: their
    // jdd_data is null, and it stays in the item as GN2PG keeps it (no jdd_uuid, no metadata row).
    let invisible_dataset = (1..=300).filter(|id| id % 200 == 91).count() as i64;
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_meta' AND item->'jdd_data' = 'null'::jsonb AND NOT item ? 'jdd_uuid'"
        ),
        invisible_dataset
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_meta' AND item ? 'ca_uuid' AND item ? 'jdd_uuid' AND type = 'synthese_with_metadata'"
        ),
        300 - invisible_dataset
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.metadata_json WHERE source = 'src_meta' AND level = 'acquisition framework'"
        ),
        3
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.metadata_json WHERE source = 'src_meta' AND level = 'dataset'"
        ),
        8
    );
    // datasets carry ca_uuid, pointing at a stored acquisition framework; data rows point at both
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.metadata_json d WHERE d.level = 'dataset' AND NOT EXISTS
               (SELECT 1 FROM gn_flux.metadata_json a WHERE a.level = 'acquisition framework' AND a.uuid::text = d.item->>'ca_uuid')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json x WHERE x.source = 'src_meta' AND x.item ? 'jdd_uuid' AND NOT EXISTS
               (SELECT 1 FROM gn_flux.metadata_json d WHERE d.uuid::text = x.item->>'jdd_uuid' AND d.item->>'ca_uuid' = x.item->>'ca_uuid')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.metadata_json WHERE controler <> 'metadata'"
        ),
        0
    );
}

#[test]
fn update_pull_follows_changes_and_deletions_exactly() {
    let mut c = start(&["src_upd"]);
    let gn = stand_in(SEED, 1500);
    add_source(&mut c, "src_upd", &gn, 1, &[]);
    assert_eq!(pull(&mut c, "src_upd", "auto").mode, "full");
    let m = gn.mutate(&MutationRequest {
        insert: 5,
        update: 7,
        delete: 3,
        ..Default::default()
    });
    gn.clear_requests();
    let p = pull(&mut c, "src_upd", "auto");
    assert_eq!((p.mode.as_str(), p.status.as_str()), ("update", "success"), "{p:?}");
    assert_eq!((p.inserted, p.updated, p.deleted, p.errors), (5, 7, 3, 0), "{p:?}");
    assert_eq!(p.items, 12 + p.unchanged, "only the window's rows are fetched: {p:?}");
    assert_exact(&mut c, &gn, "src_upd", 1);
    for id in &m.deleted {
        assert_eq!(
            count(
                &mut c,
                &format!("SELECT count(*) FROM gn_flux.data_json WHERE id_data = {id}")
            ),
            0
        );
    }
    let reqs = gn.requests();
    assert!(
        reqs.iter()
            .any(|r| r.contains("/api/synthese/log?") && r.contains("last_action=D")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r.contains("filter_d_up_derniere_action=")),
        "{reqs:?}"
    );
    // nothing changed since: an update pull changes nothing
    let again = pull(&mut c, "src_upd", "update");
    assert_eq!((again.inserted, again.updated, again.deleted), (0, 0, 0), "{again:?}");
    // a manual since re-reads a wider window, still without rewriting unchanged rows
    let wide = count(
        &mut c,
        "SELECT updated FROM gn_flux.pull_source('src_upd', 'update', since => '2000-01-01'::timestamptz)",
    );
    assert_eq!(wide, 0);
}

#[test]
fn full_pull_removes_rows_the_source_no_longer_serves() {
    let mut c = start(&["src_rec"]);
    let gn = stand_in(SEED, 800);
    add_source(&mut c, "src_rec", &gn, 1, &[]);
    pull(&mut c, "src_rec", "full");
    let m = gn.mutate(&MutationRequest {
        delete: 4,
        ..Default::default()
    });
    let p = pull(&mut c, "src_rec", "full");
    assert_eq!(
        (p.status.as_str(), p.deleted, p.unchanged),
        ("success", 4, 796),
        "{p:?}"
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_rec'"
        ),
        796
    );
    assert!(m.deleted.len() == 4);
    assert_exact(&mut c, &gn, "src_rec", 1);
}

#[test]
fn a_dba_trigger_fires_once_per_real_change() {
    let _cleanup = Cleanup::new(
        DSN,
        "DROP TRIGGER IF EXISTS e2e_trg_before ON gn_flux.data_json;
         DROP FUNCTION IF EXISTS public.e2e_trg_fn();
         DROP TABLE IF EXISTS public.e2e_trg_log;",
    );
    let mut c = start(&["src_trg"]);
    let gn = stand_in(SEED, 400);
    add_source(&mut c, "src_trg", &gn, 1, &[]);
    c.batch_execute(
        "CREATE TABLE public.e2e_trg_log (op text, id_data int);
         CREATE FUNCTION public.e2e_trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO public.e2e_trg_log VALUES (TG_OP, coalesce(NEW.id_data, OLD.id_data));
           RETURN coalesce(NEW, OLD);
         END $$;
         CREATE TRIGGER e2e_trg_before BEFORE INSERT OR UPDATE OR DELETE ON gn_flux.data_json FOR EACH ROW EXECUTE FUNCTION public.e2e_trg_fn();",
    )
    .unwrap();
    pull(&mut c, "src_trg", "full");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.e2e_trg_log WHERE op = 'INSERT'"),
        400
    );
    c.batch_execute("TRUNCATE public.e2e_trg_log").unwrap();
    pull(&mut c, "src_trg", "full");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.e2e_trg_log"),
        0,
        "unchanged rows fire no trigger"
    );
    let m = gn.mutate(&MutationRequest {
        update: 3,
        delete: 1,
        ..Default::default()
    });
    pull(&mut c, "src_trg", "update");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.e2e_trg_log WHERE op = 'UPDATE'"),
        3
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM public.e2e_trg_log WHERE op = 'DELETE'"),
        1
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.e2e_trg_log"), 4);
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM public.e2e_trg_log WHERE op = 'DELETE' AND id_data = {}",
                m.deleted[0]
            )
        ),
        1
    );
}

#[test]
fn transient_faults_are_retried_and_the_result_is_exact() {
    let mut c = start(&["src_flt"]);
    let gn = stand_in(SEED, 2200);
    add_source(&mut c, "src_flt", &gn, 1, &[("max_retries", "8")]);
    // Only the first matching rule applies to a request: these fire one after the other on
    // consecutive export requests (page 1 needs 7 attempts), then everything succeeds.
    gn.add_fault(fault(EXPORTS, status(503, Some(0)), 1, 0));
    gn.add_fault(fault(EXPORTS, status(429, Some(0)), 1, 0));
    gn.add_fault(fault(EXPORTS, status(500, None), 2, 0));
    gn.add_fault(fault(EXPORTS, FaultAction::Truncate, 1, 0));
    gn.add_fault(fault(EXPORTS, FaultAction::Garbage, 1, 0));
    gn.add_fault(fault("/api/auth", status(502, None), 1, 0));
    let p = pull(&mut c, "src_flt", "full");
    assert_eq!(
        (p.status.as_str(), p.items, p.inserted),
        ("success", 2200, 2200),
        "{p:?}"
    );
    assert_exact(&mut c, &gn, "src_flt", 1);
    assert_eq!(
        count(
            &mut c,
            "SELECT api_count_errors::bigint FROM gn_flux.import_log WHERE source = 'src_flt' ORDER BY id DESC LIMIT 1"
        ),
        7
    );
    // retries exhausted: the run fails, nothing is stored
    c.batch_execute("UPDATE gn_flux.source SET max_retries = 2 WHERE name = 'src_flt'")
        .unwrap();
    gn.add_fault(fault(EXPORTS, status(503, Some(0)), 3, 0));
    let f = pull(&mut c, "src_flt", "full");
    assert_eq!(f.status, "failed", "{f:?}");
    assert!(f.message.unwrap_or_default().contains("503"));
}

#[test]
fn a_slow_reply_times_out_and_is_retried() {
    let mut c = start(&["src_slow"]);
    let gn = stand_in(SEED, 1500);
    add_source(&mut c, "src_slow", &gn, 1, &[]);
    c.batch_execute("UPDATE gn_flux.source SET read_timeout_ms = 400 WHERE name = 'src_slow'")
        .unwrap();
    gn.add_fault(fault(EXPORTS, delay(1500), 1, 1));
    let p = pull(&mut c, "src_slow", "full");
    assert_eq!((p.status.as_str(), p.inserted), ("success", 1500), "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT api_count_errors::bigint FROM gn_flux.import_log WHERE source = 'src_slow' ORDER BY id DESC LIMIT 1"
        ),
        1
    );
    assert_exact(&mut c, &gn, "src_slow", 1);
}

#[test]
fn expiring_sessions_and_ignored_keyset_bounds_are_handled() {
    let mut c = start(&["src_sess"]);
    let gn = stand_in(SEED, 3100);
    add_source(&mut c, "src_sess", &gn, 1, &[]);
    gn.set_faults(Faults {
        session_max_requests: Some(2),
        ignore_keyset: true,
        ..Faults::default()
    });
    let before = gn.logins();
    let p = pull(&mut c, "src_sess", "full");
    assert_eq!(
        (p.status.as_str(), p.items, p.inserted),
        ("success", 3100, 3100),
        "{p:?}"
    );
    assert!(gn.logins() - before >= 2, "re-logged in");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.import_log WHERE source = 'src_sess' AND paging = 'offset'"
        ),
        1
    );
    assert_exact(&mut c, &gn, "src_sess", 1);
}

#[test]
fn a_failed_pull_leaves_staging_exactly_as_before() {
    let mut c = start(&["src_fail"]);
    let gn = stand_in(SEED, 2500);
    add_source(&mut c, "src_fail", &gn, 1, &[("max_retries", "2")]);
    pull(&mut c, "src_fail", "full");
    let before = checksum(&mut c, "src_fail");
    gn.mutate(&MutationRequest {
        insert: 1500,
        update: 10,
        delete: 5,
        ..Default::default()
    });
    // the second page of the update window fails for good
    gn.add_fault(fault(EXPORTS, status(500, None), 100, 1));
    let p = pull(&mut c, "src_fail", "auto");
    assert_eq!((p.mode.as_str(), p.status.as_str()), ("update", "failed"), "{p:?}");
    assert_eq!((p.inserted, p.updated, p.deleted), (0, 0, 0));
    assert!(p.message.as_deref().unwrap_or("").contains("500"), "{p:?}");
    assert_eq!(checksum(&mut c, "src_fail"), before, "staging unchanged");
    let row = c
        .query_one(
            "SELECT xfer_status, comment FROM gn_flux.import_log WHERE id = $1",
            &[&p.import_id],
        )
        .unwrap();
    let (status, comment): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(status.as_deref(), Some("failed"));
    assert!(comment.unwrap_or_default().contains("500"));
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.status WHERE source = 'src_fail' AND last_status = 'failed' AND failures_since_success = 1"
        ),
        1
    );
    // re-running converges
    gn.set_faults(Faults::default());
    let ok = pull(&mut c, "src_fail", "auto");
    assert_eq!(ok.status, "success", "{ok:?}");
    assert_exact(&mut c, &gn, "src_fail", 1);
}

#[test]
fn a_malformed_body_fails_the_run_cleanly() {
    let mut c = start(&["src_bad"]);
    let gn = stand_in(SEED, 50);
    add_source(&mut c, "src_bad", &gn, 1, &[("max_retries", "1")]);
    gn.add_fault(fault(EXPORTS, FaultAction::Garbage, 10, 0));
    let p = pull(&mut c, "src_bad", "full");
    assert_eq!(p.status, "failed", "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_bad'"
        ),
        0
    );
}

#[test]
fn items_that_cannot_be_stored_go_to_error_log() {
    let mut c = start(&["src_a", "src_b"]);
    let gn = stand_in(SEED, 100);
    add_source(&mut c, "src_a", &gn, 1, &[]);
    pull(&mut c, "src_a", "full");
    // a second source serving the same rows: every uuid already belongs to src_a
    add_source(&mut c, "src_b", &gn, 1, &[]);
    let p = pull(&mut c, "src_b", "full");
    assert_eq!((p.status.as_str(), p.errors, p.inserted), ("success", 100, 0), "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.error_log WHERE source = 'src_b' AND error LIKE '%already belongs to source \"src_a\"%' AND item ? 'id_synthese'"
        ),
        100
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT data_count_errors::bigint FROM gn_flux.import_log WHERE source = 'src_b'"
        ),
        100
    );
}

#[test]
fn secrets_stay_hidden() {
    let _cleanup = Cleanup::new(DSN, "DROP ROLE IF EXISTS gn_flux_e2e_reader;");
    let mut c = start(&["src_sec"]);
    let gn = stand_in(SEED, 20);
    let row = c
        .query_one(
            "SELECT password, token FROM gn_flux.add_source('src_sec', $1::text, 1, 'admin', 'admin', token => 'export1-token', retry_backoff_ms => 5)",
            &[&gn.url()],
        )
        .unwrap();
    let masked: (Option<String>, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(masked, (Some("********".into()), Some("********".into())));
    // a wrong password: the failure is logged without it
    c.batch_execute("UPDATE gn_flux.source SET password = 'Wr0ng-S3cret!', token = NULL WHERE name = 'src_sec'")
        .unwrap();
    let p = pull(&mut c, "src_sec", "full");
    assert_eq!(p.status, "failed");
    assert!(!p.message.clone().unwrap_or_default().contains("Wr0ng-S3cret!"));
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.import_log WHERE comment LIKE '%Wr0ng-S3cret!%' OR xfer_filters::text LIKE '%Wr0ng%'"
        ),
        0
    );
    // an unprivileged role reads the source, not its secrets
    c.batch_execute(
        "CREATE ROLE gn_flux_e2e_reader;
         SET ROLE gn_flux_e2e_reader;
         DO $$
         BEGIN
           PERFORM name, url, login FROM gn_flux.source;
           BEGIN
             PERFORM password FROM gn_flux.source;
             RAISE EXCEPTION 'password readable';
           EXCEPTION WHEN insufficient_privilege THEN NULL;
           END;
           BEGIN
             PERFORM token FROM gn_flux.source;
             RAISE EXCEPTION 'token readable';
           EXCEPTION WHEN insufficient_privilege THEN NULL;
           END;
           BEGIN
             PERFORM * FROM gn_flux.pull_source('src_sec');
             RAISE EXCEPTION 'pull_source callable';
           EXCEPTION WHEN insufficient_privilege THEN NULL;
           END;
         END $$;
         RESET ROLE;",
    )
    .unwrap();
}

/// In the database pg_cron runs in. The whole test is one transaction, rolled back at the end
/// (as the #[pg_test] it was): a committed schedule could fire in the middle of the test.
#[test]
fn pg_cron_schedules_and_status() {
    let mut c = connect(CRON_DSN);
    fresh(&mut c, &["src_cron"]);
    let gn = stand_in(SEED, 10);
    let mut t = c.transaction().unwrap();
    add_source(&mut t, "src_cron", &gn, 1, &[]);
    t.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_cron").unwrap();
    let job: i64 = t
        .query_one("SELECT gn_flux.schedule_source('src_cron', '*/30 * * * *')", &[])
        .unwrap()
        .get(0);
    assert!(job > 0);
    let row = t
        .query_one(
            "SELECT schedule, command FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'",
            &[],
        )
        .unwrap();
    let (sched, cmd): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(sched.as_deref(), Some("*/30 * * * *"));
    assert_eq!(cmd.as_deref(), Some("SELECT * FROM gn_flux.pull_source('src_cron')"));
    pull(&mut t, "src_cron", "auto");
    let row = t
        .query_one(
            "SELECT last_status, rows, schedule FROM gn_flux.status WHERE source = 'src_cron'",
            &[],
        )
        .unwrap();
    let status: (Option<String>, Option<i64>, Option<String>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(status, (Some("success".into()), Some(10), Some("*/30 * * * *".into())));
    t.batch_execute("SELECT gn_flux.unschedule_source('src_cron')").unwrap();
    assert_eq!(
        count(
            &mut t,
            "SELECT count(*) FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'"
        ),
        0
    );
    // drop_source removes data and schedule
    t.batch_execute("SELECT gn_flux.schedule_source('src_cron', '0 * * * *'); SELECT gn_flux.drop_source('src_cron')")
        .unwrap();
    assert_eq!(
        count(
            &mut t,
            "SELECT count(*) FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut t,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_cron'"
        ),
        0
    );
    t.rollback().unwrap();
}

#[test]
fn a_planted_geometry_operator_is_never_called() {
    // A role that may create schemas plants `=(geometry, geometry)` in a schema named like the
    // superuser: the default search_path ("$user", public) finds it before PostGIS's. And
    // `=(varchar, text)`, `=(varchar, varchar)`: exact matches for the staging tables' varchar
    // columns, which would outrank pg_catalog's `text = text`.
    let _cleanup = Cleanup::new(
        DSN,
        "DO $$
         BEGIN
           IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gn_flux_e2e_hijacker') THEN
             EXECUTE 'DROP OWNED BY gn_flux_e2e_hijacker';
           END IF;
         END $$;
         DROP TABLE IF EXISTS public.e2e_hijack_calls;
         DROP ROLE IF EXISTS gn_flux_e2e_hijacker;",
    );
    let mut c = start(&["src_hijack"]);
    let gn = stand_in(SEED, 300);
    add_source(&mut c, "src_hijack", &gn, 1, &[("page_size", "100")]);
    let me: String = c.query_one("SELECT current_user::text", &[]).unwrap().get(0);
    let schema = format!("\"{}\"", me.replace('"', "\"\""));
    c.batch_execute(&format!(
        "CREATE ROLE gn_flux_e2e_hijacker;
         CREATE TABLE public.e2e_hijack_calls (n integer);
         GRANT INSERT ON public.e2e_hijack_calls TO gn_flux_e2e_hijacker;
         CREATE SCHEMA {schema} AUTHORIZATION gn_flux_e2e_hijacker;
         SET ROLE gn_flux_e2e_hijacker;
         CREATE FUNCTION {schema}.spy_eq(a public.geometry, b public.geometry) RETURNS boolean
           LANGUAGE sql AS 'INSERT INTO public.e2e_hijack_calls VALUES (1) RETURNING true';
         CREATE OPERATOR {schema}.= (leftarg = public.geometry, rightarg = public.geometry, function = {schema}.spy_eq);
         -- exact matches for varchar columns compared with text or varchar: they would outrank
         -- pg_catalog's text = text (answering right, so a call is only recorded)
         CREATE FUNCTION {schema}.spy_eq_vt(a varchar, b text) RETURNS boolean
           LANGUAGE sql AS 'INSERT INTO public.e2e_hijack_calls VALUES (2) RETURNING $1::text OPERATOR(pg_catalog.=) $2';
         CREATE OPERATOR {schema}.= (leftarg = varchar, rightarg = text, function = {schema}.spy_eq_vt);
         CREATE FUNCTION {schema}.spy_eq_vv(a varchar, b varchar) RETURNS boolean
           LANGUAGE sql AS 'INSERT INTO public.e2e_hijack_calls VALUES (3) RETURNING $1::text OPERATOR(pg_catalog.=) $2::text';
         CREATE OPERATOR {schema}.= (leftarg = varchar, rightarg = varchar, function = {schema}.spy_eq_vv);
         RESET ROLE;
         SET search_path = \"$user\", public;"
    ))
    .unwrap();
    assert_eq!(pull(&mut c, "src_hijack", "full").status, "success");
    // the second full pull compares every stored geometry with the served one
    c.batch_execute(
        // (the test's own statement runs under the planted path too: text against text)
        "UPDATE gn_flux.data_json SET item = item || '{\"x\": 1}' WHERE source::text = 'src_hijack' AND id_data % 2 = 0",
    )
    .unwrap();
    let p = pull(&mut c, "src_hijack", "full");
    assert_eq!(p.status, "success", "{p:?}");
    assert!(p.updated >= 100, "{p:?}");
    // an update pull, and deletions from the synthese log
    gn.mutate(&MutationRequest {
        update: 10,
        delete: 10,
        ..MutationRequest::default()
    });
    let p = pull(&mut c, "src_hijack", "update");
    assert_eq!(p.status, "success", "{p:?}");
    assert!(p.deleted >= 10, "{p:?}");
    // drop_source runs under the caller's path (for DBA triggers on data_json), even one that
    // names the planted schema before pg_catalog, where a planted `=(text, text)` would win
    c.batch_execute(&format!(
        "SET ROLE gn_flux_e2e_hijacker;
         CREATE FUNCTION {schema}.spy_eq_tt(a text, b text) RETURNS boolean
           LANGUAGE sql AS 'INSERT INTO public.e2e_hijack_calls VALUES (4) RETURNING $1 OPERATOR(pg_catalog.=) $2';
         CREATE OPERATOR {schema}.= (leftarg = text, rightarg = text, function = {schema}.spy_eq_tt);
         RESET ROLE;
         SET search_path = \"$user\", pg_catalog, public;"
    ))
    .unwrap();
    c.batch_execute("SELECT gn_flux.drop_source('src_hijack')").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM public.e2e_hijack_calls"), 0);
    c.batch_execute("RESET search_path").unwrap();
}

#[test]
fn dba_triggers_calling_postgis_unqualified_keep_working() {
    let _cleanup = Cleanup::new(
        DSN,
        "DROP TRIGGER IF EXISTS e2e_dba_centroid ON gn_flux.data_json;
         DROP FUNCTION IF EXISTS public.e2e_dba_centroid();",
    );
    let mut c = start(&["src_dba"]);
    let gn = stand_in(SEED, 50);
    add_source(&mut c, "src_dba", &gn, 1, &[]);
    c.batch_execute(
        "CREATE FUNCTION public.e2e_dba_centroid() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.geom IS NOT NULL THEN
                 NEW.item := NEW.item || jsonb_build_object('dba_x', ST_X(ST_Centroid(NEW.geom)));
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER e2e_dba_centroid BEFORE INSERT ON gn_flux.data_json
             FOR EACH ROW EXECUTE FUNCTION public.e2e_dba_centroid();",
    )
    .unwrap();
    assert_eq!(pull(&mut c, "src_dba", "full").status, "success");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_dba' AND geom IS NOT NULL AND item ? 'dba_x'"
        ),
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_dba' AND geom IS NOT NULL"
        )
    );
}

/// Secret files are read by the server: the directory (700) and the file (600) belong to the
/// server's OS user; gn_flux.secrets_directory is set for the session (the DSN's role is a
/// superuser).
#[test]
fn secrets_can_live_in_private_files() {
    let mut c = start(&["src_file"]);
    let gn = stand_in(SEED, 20);
    let dir = secrets_dir("private", "src_file.password", "admin\n", 0o600);
    c.execute(
        "SELECT set_config('gn_flux.secrets_directory', $1::text, false)",
        &[&dir.display().to_string()],
    )
    .unwrap();
    c.execute(
        "SELECT gn_flux.add_source('src_file', $1::text, 1, login => 'admin', password_file => 'src_file.password', retry_backoff_ms => 5)",
        &[&gn.url()],
    )
    .unwrap();
    assert_eq!(pull(&mut c, "src_file", "full").status, "success");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_file'"
        ),
        20
    );
    // The file gone: the pull is a failed run like any other, recorded for monitoring (not an
    // error that pg_cron alone would see), with what to do; nothing stored changes.
    std::fs::remove_file(dir.join("src_file.password")).unwrap();
    let p = pull(&mut c, "src_file", "auto");
    assert_eq!(p.status, "failed", "{p:?}");
    assert!(
        p.message
            .clone()
            .unwrap_or_default()
            .contains("cannot read password_file"),
        "{p:?}"
    );
    let (logged, comment): (String, String) = {
        let r = c
            .query_one(
                "SELECT xfer_status::text, comment::text FROM gn_flux.import_log WHERE source = 'src_file' ORDER BY id DESC LIMIT 1",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(logged, "failed");
    assert!(comment.contains("src_file.password"), "{comment}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_file'"
        ),
        20
    );
    c.batch_execute("RESET gn_flux.secrets_directory").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_file_other_users_may_read_is_refused() {
    let mut c = start(&["src_open"]);
    let dir = secrets_dir("open", "open.token", "export1-token", 0o644);
    c.execute(
        "SELECT set_config('gn_flux.secrets_directory', $1::text, false)",
        &[&dir.display().to_string()],
    )
    .unwrap();
    let err = c
        .execute(
            "SELECT gn_flux.add_source('src_open', 'http://127.0.0.1:9/geonature', 1, token_file => 'open.token')",
            &[],
        )
        .expect_err("a token file readable by others is refused");
    assert_eq!(sqlstate(&err), "22023", "{err}");
    assert!(message(&err).contains("may be read by other OS users"), "{err}");
    c.batch_execute("RESET gn_flux.secrets_directory").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_deletion_during_a_page_index_walk_loses_no_live_row() {
    // page-index paging: one upstream deletion while the walk is on page 5 shifts later rows
    // onto pages already fetched; they must still arrive, and must not be reconciled away
    let mut c = start(&["src_shift"]);
    let gn = stand_in(SEED, 6000);
    add_source(
        &mut c,
        "src_shift",
        &gn,
        1,
        &[("page_size", "500"), ("paging", "'offset'")],
    );
    assert_eq!(pull(&mut c, "src_shift", "full").status, "success");
    gn.add_fault(fault(
        EXPORTS,
        FaultAction::Mutate {
            mutation: MutationRequest {
                delete_ids: (3..=7).collect(),
                ..MutationRequest::default()
            },
        },
        1,
        5,
    ));
    let p = pull(&mut c, "src_shift", "full");
    assert_eq!(p.status, "success", "{p:?}");
    assert_eq!(p.deleted, 5, "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_shift' AND id_data BETWEEN 2501 AND 2505"
        ),
        5
    );
    assert_exact(&mut c, &gn, "src_shift", 1);
    let comment: Option<String> = c
        .query_one(
            "SELECT comment FROM gn_flux.import_log WHERE source = 'src_shift' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let comment = comment.unwrap_or_default();
    assert!(comment.contains("walked 2 times"), "{comment}");
    assert_eq!(pull(&mut c, "src_shift", "update").status, "success");
    assert_exact(&mut c, &gn, "src_shift", 1);
}

#[test]
fn a_future_dated_row_does_not_freeze_update_pulls() {
    let mut c = start(&["src_future"]);
    let gn = stand_in(SEED, 100);
    add_source(&mut c, "src_future", &gn, 1, &[]);
    assert_eq!(pull(&mut c, "src_future", "full").status, "success");
    gn.mutate(&MutationRequest {
        update_ids: vec![5],
        at: Some("2036-01-01 00:00:00".into()),
        ..MutationRequest::default()
    });
    let p = pull(&mut c, "src_future", "update");
    assert_eq!((p.status.as_str(), p.updated), ("success", 1), "{p:?}");
    let capped: Option<bool> = c
        .query_one(
            "SELECT watermark < localtimestamp + interval '2 days' FROM gn_flux.source WHERE name = 'src_future'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(capped, Some(true));
    let comment: Option<String> = c
        .query_one(
            "SELECT comment FROM gn_flux.import_log WHERE source = 'src_future' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let comment = comment.unwrap_or_default();
    assert!(
        comment.contains("derniere_action in the future (2036-01-01"),
        "{comment}"
    );
    // a later change is still seen by the next update pull
    gn.mutate(&MutationRequest {
        update_ids: vec![6],
        ..MutationRequest::default()
    });
    let p = pull(&mut c, "src_future", "update");
    assert!(p.updated >= 1, "{p:?}");
    assert_exact(&mut c, &gn, "src_future", 1);
}

#[test]
fn a_reply_larger_than_the_cap_fails_the_run_cleanly() {
    let mut c = start(&["src_big"]);
    let gn = stand_in(SEED, 2000);
    add_source(&mut c, "src_big", &gn, 1, &[]);
    c.batch_execute("SET gn_flux.max_reply_size = '64kB'").unwrap();
    let p = pull(&mut c, "src_big", "full");
    assert_eq!(p.status, "failed", "{p:?}");
    assert!(p.message.clone().unwrap_or_default().contains("65536"), "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_big'"
        ),
        0
    );
    c.batch_execute("RESET gn_flux.max_reply_size").unwrap();
}

#[test]
fn a_remote_that_repeats_its_page_stops_the_run() {
    let mut c = start(&["src_loop"]);
    let gn = stand_in(SEED, 3000);
    add_source(&mut c, "src_loop", &gn, 1, &[]);
    gn.add_fault(fault(EXPORTS, FaultAction::Repeat, 1000, 1));
    let p = pull(&mut c, "src_loop", "full");
    assert_eq!(p.status, "failed", "{p:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_loop'"
        ),
        0
    );
}

#[test]
fn public_feature_collection_export_takes_feature_geometries() {
    let mut c = start(&["src_pub"]);
    let gn = stand_in(SEED, 200);
    c.execute(
        "SELECT gn_flux.add_source('src_pub', $1::text, 3, retry_backoff_ms => 5)",
        &[&gn.url()],
    )
    .unwrap();
    let p = pull(&mut c, "src_pub", "full");
    assert_eq!(p.status, "success", "{p:?}");
    // NULL geometries are dropped by GeoNature in FeatureCollection mode
    let stored = count(
        &mut c,
        "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub'",
    );
    assert!(stored > 180 && stored <= 200, "{stored}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub' AND geom IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub' AND NOT ST_Equals(geom, ST_GeomFromText(item->>'wkt_4326', 4326))"
        ),
        0
    );
}
