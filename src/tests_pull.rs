//! pull_source() inside PostgreSQL against the GeoNature stand-in, started in this backend on
//! 127.0.0.1 (its threads never touch PostgreSQL). Each test runs in its own rolled-back transaction.
#[pgrx::pg_schema]
mod tests {
    use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule, Faults, MutationRequest};
    use pgrx::prelude::*;

    fn stand_in(rows: i64) -> FakeGeoNature {
        FakeGeoNature::start(Config {
            rows,
            seed: 11,
            ..Config::default()
        })
        .expect("stand-in")
    }

    fn q(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    fn add(name: &str, gn: &FakeGeoNature, export_id: i64, extra: &str) {
        Spi::run(&format!(
            "SELECT gn_flux.add_source(name => {}, url => {}, export_id => {export_id}, login => 'admin', password => 'admin',
                                       retry_backoff_ms => 5, read_timeout_ms => 3000 {extra})",
            q(name),
            q(&gn.url())
        ))
        .expect("add_source");
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Pull {
        import_id: i32,
        mode: String,
        status: String,
        pages: i32,
        items: i64,
        inserted: i64,
        updated: i64,
        unchanged: i64,
        deleted: i64,
        errors: i64,
        message: Option<String>,
    }

    fn pull(name: &str, mode: &str) -> Pull {
        Spi::connect(|c| {
            let r = c
                .select(
                    "SELECT import_id, mode, status, pages, items, inserted, updated, unchanged, deleted, errors, message
                       FROM gn_flux.pull_source($1, $2)",
                    None,
                    &[name.into(), mode.into()],
                )
                .unwrap()
                .first();
            Pull {
                import_id: r.get(1).unwrap().unwrap(),
                mode: r.get(2).unwrap().unwrap(),
                status: r.get(3).unwrap().unwrap(),
                pages: r.get(4).unwrap().unwrap(),
                items: r.get(5).unwrap().unwrap(),
                inserted: r.get(6).unwrap().unwrap(),
                updated: r.get(7).unwrap().unwrap(),
                unchanged: r.get(8).unwrap().unwrap(),
                deleted: r.get(9).unwrap().unwrap(),
                errors: r.get(10).unwrap().unwrap(),
                message: r.get(11).unwrap(),
            }
        })
    }

    fn count(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).unwrap().unwrap()
    }

    /// Every stored item of `source` equals the stand-in's current item (export 1 shape), and the
    /// stored ids are exactly the live ones.
    fn assert_exact(gn: &FakeGeoNature, source: &str, export_id: i64) {
        let max_id = gn.live_rows() as i64 + 10_000;
        let mut expected = String::from("[");
        let mut n = 0;
        for id in 1..=max_id {
            if let Some(item) = gn.item_json(export_id, id) {
                if n > 0 {
                    expected.push(',');
                }
                expected.push_str(&item);
                n += 1;
            }
        }
        expected.push(']');
        let mismatches = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM jsonb_array_elements($1::jsonb) e
               FULL JOIN (SELECT * FROM gn_flux.data_json WHERE source = $2) d ON d.id_data = (e->>'id_synthese')::int
              WHERE e IS NULL OR d.item IS NULL OR e IS DISTINCT FROM d.item",
            &[expected.as_str().into(), source.into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(mismatches, 0, "stored items differ from the source");
        assert_eq!(n as u64, gn.live_rows());
    }

    fn checksum(source: &str) -> String {
        Spi::get_one_with_args::<String>(
            "SELECT md5(coalesce(string_agg(id_data || ':' || uuid || ':' || item::text || ':' || coalesce(geom::text, ''), '|' ORDER BY id_data), ''))
               FROM gn_flux.data_json WHERE source = $1",
            &[source.into()],
        )
        .unwrap()
        .unwrap()
    }

    #[pg_test]
    fn full_pull_is_exact_with_geometries_and_gn2pg_log() {
        let gn = stand_in(2500);
        add("src_full", &gn, 1, "");
        gn.clear_requests();
        let p = pull("src_full", "auto");
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
        assert_exact(&gn, "src_full", 1);
        // geometry built from wkt_4326
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full'
                  AND (geom IS NULL) <> (item->>'wkt_4326' IS NULL)"
            ),
            0
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full' AND geom IS NOT NULL
                  AND NOT ST_Equals(geom, ST_GeomFromText(item->>'wkt_4326', 4326))"
            ),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full' AND ST_SRID(geom) <> 4326"),
            0
        );
        // GN2PG columns: controler, type, uuid = id_perm_sinp
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_full'
                  AND (controler <> 'data' OR type <> 'synthese_with_cd_nomenclature' OR uuid::text <> item->>'id_perm_sinp' OR import_id <> (SELECT max(id) FROM gn_flux.import_log))"
            ),
            0
        );
        let (status, typ, filters) = Spi::get_three_with_args::<String, String, String>(
            "SELECT xfer_status, xfer_type, xfer_filters::text FROM gn_flux.import_log WHERE id = $1",
            &[p.import_id.into()],
        )
        .unwrap();
        assert_eq!((status.as_deref(), typ.as_deref()), (Some("success"), Some("full")));
        assert_eq!(filters.as_deref(), Some(r#"["{\"limit\": 1000}"]"#));
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM gn_flux.import_log WHERE id = {} AND api_count_items = 2500 AND data_count_upserts = 2500
                   AND pages = 3 AND paging = 'keyset' AND xfer_end_ts >= xfer_start_ts",
                p.import_id
            )),
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
        let again = pull("src_full", "full");
        assert_eq!(
            (again.inserted, again.updated, again.unchanged, again.deleted),
            (0, 0, 2500, 0),
            "{again:?}"
        );
    }

    #[pg_test]
    fn metadata_objects_move_to_metadata_json() {
        let gn = stand_in(300);
        add("src_meta", &gn, 2, ", data_type => 'synthese_with_metadata'");
        let p = pull("src_meta", "full");
        assert_eq!((p.status.as_str(), p.items, p.errors), ("success", 300, 0), "{p:?}");
        assert_eq!(count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_meta' AND (item ? 'ca_data' OR item ? 'jdd_data')"), 0);
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_meta' AND item ? 'ca_uuid' AND item ? 'jdd_uuid' AND type = 'synthese_with_metadata'"),
            300
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.metadata_json WHERE source = 'src_meta' AND level = 'acquisition framework'"
            ),
            3
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.metadata_json WHERE source = 'src_meta' AND level = 'dataset'"),
            8
        );
        // datasets carry ca_uuid, pointing at a stored acquisition framework; data rows point at both
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.metadata_json d WHERE d.level = 'dataset' AND NOT EXISTS
                   (SELECT 1 FROM gn_flux.metadata_json a WHERE a.level = 'acquisition framework' AND a.uuid::text = d.item->>'ca_uuid')"
            ),
            0
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.data_json x WHERE x.source = 'src_meta' AND NOT EXISTS
                   (SELECT 1 FROM gn_flux.metadata_json d WHERE d.uuid::text = x.item->>'jdd_uuid' AND d.item->>'ca_uuid' = x.item->>'ca_uuid')"
            ),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.metadata_json WHERE controler <> 'metadata'"),
            0
        );
    }

    #[pg_test]
    fn update_pull_follows_changes_and_deletions_exactly() {
        let gn = stand_in(1500);
        add("src_upd", &gn, 1, "");
        assert_eq!(pull("src_upd", "auto").mode, "full");
        let m = gn.mutate(&MutationRequest {
            insert: 5,
            update: 7,
            delete: 3,
            ..Default::default()
        });
        gn.clear_requests();
        let p = pull("src_upd", "auto");
        assert_eq!((p.mode.as_str(), p.status.as_str()), ("update", "success"), "{p:?}");
        assert_eq!((p.inserted, p.updated, p.deleted, p.errors), (5, 7, 3, 0), "{p:?}");
        assert_eq!(p.items, 12 + p.unchanged, "only the window's rows are fetched: {p:?}");
        assert_exact(&gn, "src_upd", 1);
        for id in &m.deleted {
            assert_eq!(
                count(&format!("SELECT count(*) FROM gn_flux.data_json WHERE id_data = {id}")),
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
        let again = pull("src_upd", "update");
        assert_eq!((again.inserted, again.updated, again.deleted), (0, 0, 0), "{again:?}");
        // a manual since re-reads a wider window, still without rewriting unchanged rows
        let wide = Spi::get_one::<i64>(
            "SELECT updated FROM gn_flux.pull_source('src_upd', 'update', since => '2000-01-01'::timestamptz)",
        )
        .unwrap()
        .unwrap();
        assert_eq!(wide, 0);
    }

    #[pg_test]
    fn full_pull_removes_rows_the_source_no_longer_serves() {
        let gn = stand_in(800);
        add("src_rec", &gn, 1, "");
        pull("src_rec", "full");
        let m = gn.mutate(&MutationRequest {
            delete: 4,
            ..Default::default()
        });
        let p = pull("src_rec", "full");
        assert_eq!(
            (p.status.as_str(), p.deleted, p.unchanged),
            ("success", 4, 796),
            "{p:?}"
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_rec'"),
            796
        );
        assert!(m.deleted.len() == 4);
        assert_exact(&gn, "src_rec", 1);
    }

    #[pg_test]
    fn a_dba_trigger_fires_once_per_real_change() {
        let gn = stand_in(400);
        add("src_trg", &gn, 1, "");
        Spi::run(
            "CREATE TABLE public.trg_log (op text, id_data int);
             CREATE FUNCTION public.trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO public.trg_log VALUES (TG_OP, coalesce(NEW.id_data, OLD.id_data));
               RETURN coalesce(NEW, OLD);
             END $$;
             CREATE TRIGGER trg_before BEFORE INSERT OR UPDATE OR DELETE ON gn_flux.data_json FOR EACH ROW EXECUTE FUNCTION public.trg_fn();",
        )
        .unwrap();
        pull("src_trg", "full");
        assert_eq!(count("SELECT count(*) FROM public.trg_log WHERE op = 'INSERT'"), 400);
        Spi::run("TRUNCATE public.trg_log").unwrap();
        pull("src_trg", "full");
        assert_eq!(
            count("SELECT count(*) FROM public.trg_log"),
            0,
            "unchanged rows fire no trigger"
        );
        let m = gn.mutate(&MutationRequest {
            update: 3,
            delete: 1,
            ..Default::default()
        });
        pull("src_trg", "update");
        assert_eq!(count("SELECT count(*) FROM public.trg_log WHERE op = 'UPDATE'"), 3);
        assert_eq!(count("SELECT count(*) FROM public.trg_log WHERE op = 'DELETE'"), 1);
        assert_eq!(count("SELECT count(*) FROM public.trg_log"), 4);
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM public.trg_log WHERE op = 'DELETE' AND id_data = {}",
                m.deleted[0]
            )),
            1
        );
    }

    fn fault(path: &str, action: FaultAction, times: u64, after: u64) -> FaultRule {
        FaultRule {
            path: path.into(),
            action,
            times,
            after,
        }
    }

    #[pg_test]
    fn transient_faults_are_retried_and_the_result_is_exact() {
        let gn = stand_in(2200);
        add("src_flt", &gn, 1, ", max_retries => 8");
        // Only the first matching rule applies to a request: these fire one after the other on
        // consecutive export requests (page 1 needs 7 attempts), then everything succeeds.
        let exports = "/api/exports";
        gn.add_fault(fault(
            exports,
            FaultAction::Status {
                status: 503,
                retry_after: Some(0),
            },
            1,
            0,
        ));
        gn.add_fault(fault(
            exports,
            FaultAction::Status {
                status: 429,
                retry_after: Some(0),
            },
            1,
            0,
        ));
        gn.add_fault(fault(
            exports,
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
            2,
            0,
        ));
        gn.add_fault(fault(exports, FaultAction::Truncate, 1, 0));
        gn.add_fault(fault(exports, FaultAction::Garbage, 1, 0));
        gn.add_fault(fault(
            "/api/auth",
            FaultAction::Status {
                status: 502,
                retry_after: None,
            },
            1,
            0,
        ));
        let p = pull("src_flt", "full");
        assert_eq!(
            (p.status.as_str(), p.items, p.inserted),
            ("success", 2200, 2200),
            "{p:?}"
        );
        assert_exact(&gn, "src_flt", 1);
        assert_eq!(
            count("SELECT api_count_errors::bigint FROM gn_flux.import_log ORDER BY id DESC LIMIT 1"),
            7
        );
        // retries exhausted: the run fails, nothing is stored
        Spi::run("UPDATE gn_flux.source SET max_retries = 2 WHERE name = 'src_flt'").unwrap();
        gn.add_fault(fault(
            exports,
            FaultAction::Status {
                status: 503,
                retry_after: Some(0),
            },
            3,
            0,
        ));
        let f = pull("src_flt", "full");
        assert_eq!(f.status, "failed", "{f:?}");
        assert!(f.message.unwrap_or_default().contains("503"));
    }

    #[pg_test]
    fn a_slow_reply_times_out_and_is_retried() {
        let gn = stand_in(1500);
        add("src_slow", &gn, 1, "");
        Spi::run("UPDATE gn_flux.source SET read_timeout_ms = 400 WHERE name = 'src_slow'").unwrap();
        gn.add_fault(fault("/api/exports", FaultAction::Delay { ms: 1500 }, 1, 1));
        let p = pull("src_slow", "full");
        assert_eq!((p.status.as_str(), p.inserted), ("success", 1500), "{p:?}");
        assert_eq!(
            count("SELECT api_count_errors::bigint FROM gn_flux.import_log ORDER BY id DESC LIMIT 1"),
            1
        );
        assert_exact(&gn, "src_slow", 1);
    }

    #[pg_test]
    fn expiring_sessions_and_ignored_keyset_bounds_are_handled() {
        let gn = stand_in(3100);
        add("src_sess", &gn, 1, "");
        gn.set_faults(Faults {
            session_max_requests: Some(2),
            ignore_keyset: true,
            ..Faults::default()
        });
        let before = gn.logins();
        let p = pull("src_sess", "full");
        assert_eq!(
            (p.status.as_str(), p.items, p.inserted),
            ("success", 3100, 3100),
            "{p:?}"
        );
        assert!(gn.logins() - before >= 2, "re-logged in");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.import_log WHERE source = 'src_sess' AND paging = 'offset'"),
            1
        );
        assert_exact(&gn, "src_sess", 1);
    }

    #[pg_test]
    fn a_failed_pull_leaves_staging_exactly_as_before() {
        let gn = stand_in(2500);
        add("src_fail", &gn, 1, ", max_retries => 2");
        pull("src_fail", "full");
        let before = checksum("src_fail");
        gn.mutate(&MutationRequest {
            insert: 1500,
            update: 10,
            delete: 5,
            ..Default::default()
        });
        // the second page of the update window fails for good
        gn.add_fault(fault(
            "/api/exports",
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
            100,
            1,
        ));
        let p = pull("src_fail", "auto");
        assert_eq!((p.mode.as_str(), p.status.as_str()), ("update", "failed"), "{p:?}");
        assert_eq!((p.inserted, p.updated, p.deleted), (0, 0, 0));
        assert!(p.message.as_deref().unwrap_or("").contains("500"), "{p:?}");
        assert_eq!(checksum("src_fail"), before, "staging unchanged");
        let (status, comment) = Spi::get_two_with_args::<String, String>(
            "SELECT xfer_status, comment FROM gn_flux.import_log WHERE id = $1",
            &[p.import_id.into()],
        )
        .unwrap();
        assert_eq!(status.as_deref(), Some("failed"));
        assert!(comment.unwrap_or_default().contains("500"));
        assert_eq!(count("SELECT count(*) FROM gn_flux.status WHERE source = 'src_fail' AND last_status = 'failed' AND failures_since_success = 1"), 1);
        // re-running converges
        gn.set_faults(Faults::default());
        let ok = pull("src_fail", "auto");
        assert_eq!(ok.status, "success", "{ok:?}");
        assert_exact(&gn, "src_fail", 1);
    }

    #[pg_test]
    fn a_malformed_body_fails_the_run_cleanly() {
        let gn = stand_in(50);
        add("src_bad", &gn, 1, ", max_retries => 1");
        gn.add_fault(fault("/api/exports", FaultAction::Garbage, 10, 0));
        let p = pull("src_bad", "full");
        assert_eq!(p.status, "failed", "{p:?}");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_bad'"),
            0
        );
    }

    #[pg_test]
    fn items_that_cannot_be_stored_go_to_error_log() {
        let gn = stand_in(100);
        add("src_a", &gn, 1, "");
        pull("src_a", "full");
        // a second source serving the same rows: every uuid already belongs to src_a
        add("src_b", &gn, 1, "");
        let p = pull("src_b", "full");
        assert_eq!((p.status.as_str(), p.errors, p.inserted), ("success", 100, 0), "{p:?}");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.error_log WHERE source = 'src_b' AND error LIKE '%already belongs to source \"src_a\"%' AND item ? 'id_synthese'"),
            100
        );
        assert_eq!(
            count("SELECT data_count_errors::bigint FROM gn_flux.import_log WHERE source = 'src_b'"),
            100
        );
    }

    #[pg_test]
    fn secrets_stay_hidden() {
        let gn = stand_in(20);
        let row = Spi::get_two::<String, String>(&format!(
            "SELECT password, token FROM gn_flux.add_source('src_sec', {}, 1, 'admin', 'admin', token => 'export1-token', retry_backoff_ms => 5)",
            q(&gn.url())
        ))
        .unwrap();
        assert_eq!(row, (Some("********".into()), Some("********".into())));
        // a wrong password: the failure is logged without it
        Spi::run("UPDATE gn_flux.source SET password = 'Wr0ng-S3cret!', token = NULL WHERE name = 'src_sec'").unwrap();
        let p = pull("src_sec", "full");
        assert_eq!(p.status, "failed");
        assert!(!p.message.clone().unwrap_or_default().contains("Wr0ng-S3cret!"));
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.import_log WHERE comment LIKE '%Wr0ng-S3cret!%' OR xfer_filters::text LIKE '%Wr0ng%'"),
            0
        );
        // an unprivileged role reads the source, not its secrets
        Spi::run(
            "CREATE ROLE gn_flux_test_reader;
             SET LOCAL ROLE gn_flux_test_reader;
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

    #[pg_test]
    fn pg_cron_schedules_and_status() {
        let gn = stand_in(10);
        add("src_cron", &gn, 1, "");
        Spi::run("CREATE EXTENSION IF NOT EXISTS pg_cron").unwrap();
        let job = Spi::get_one::<i64>("SELECT gn_flux.schedule_source('src_cron', '*/30 * * * *')")
            .unwrap()
            .unwrap();
        assert!(job > 0);
        let (sched, cmd) = Spi::get_two::<String, String>(
            "SELECT schedule, command FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'",
        )
        .unwrap();
        assert_eq!(sched.as_deref(), Some("*/30 * * * *"));
        assert_eq!(cmd.as_deref(), Some("SELECT * FROM gn_flux.pull_source('src_cron')"));
        pull("src_cron", "auto");
        let status = Spi::get_three::<String, i64, String>(
            "SELECT last_status, rows, schedule FROM gn_flux.status WHERE source = 'src_cron'",
        )
        .unwrap();
        assert_eq!(status, (Some("success".into()), Some(10), Some("*/30 * * * *".into())));
        Spi::run("SELECT gn_flux.unschedule_source('src_cron')").unwrap();
        assert_eq!(
            count("SELECT count(*) FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'"),
            0
        );
        // drop_source removes data and schedule
        Spi::run("SELECT gn_flux.schedule_source('src_cron', '0 * * * *'); SELECT gn_flux.drop_source('src_cron')")
            .unwrap();
        assert_eq!(
            count("SELECT count(*) FROM cron.job WHERE jobname = 'gn_flux_pull_src_cron'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_cron'"),
            0
        );
    }

    #[pg_test]
    fn a_planted_geometry_operator_is_never_called() {
        // A role that may create schemas plants `=(geometry, geometry)` in a schema named like the
        // superuser: the default search_path ("$user", public) finds it before PostGIS's.
        let gn = stand_in(300);
        add("src_hijack", &gn, 1, ", page_size => 100");
        Spi::run(
            "CREATE ROLE gn_flux_hijacker;
             CREATE TABLE public.hijack_calls (n integer);
             GRANT INSERT ON public.hijack_calls TO gn_flux_hijacker;
             CREATE SCHEMA IF NOT EXISTS postgres AUTHORIZATION gn_flux_hijacker;
             SET LOCAL ROLE gn_flux_hijacker;
             CREATE FUNCTION postgres.spy_eq(a public.geometry, b public.geometry) RETURNS boolean
               LANGUAGE sql AS 'INSERT INTO public.hijack_calls VALUES (1) RETURNING true';
             CREATE OPERATOR postgres.= (leftarg = public.geometry, rightarg = public.geometry, function = postgres.spy_eq);
             RESET ROLE;
             SET LOCAL search_path = \"$user\", public;",
        )
        .unwrap();
        assert_eq!(pull("src_hijack", "full").status, "success");
        // the second full pull compares every stored geometry with the served one
        Spi::run(
            "UPDATE gn_flux.data_json SET item = item || '{\"x\": 1}' WHERE source = 'src_hijack' AND id_data % 2 = 0",
        )
        .unwrap();
        let p = pull("src_hijack", "full");
        assert_eq!(p.status, "success", "{p:?}");
        assert!(p.updated >= 100, "{p:?}");
        assert_eq!(count("SELECT count(*) FROM public.hijack_calls"), 0);
    }

    #[pg_test]
    fn dba_triggers_calling_postgis_unqualified_keep_working() {
        let gn = stand_in(50);
        add("src_dba", &gn, 1, "");
        Spi::run(
            "CREATE FUNCTION public.dba_centroid() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.geom IS NOT NULL THEN
                     NEW.item := NEW.item || jsonb_build_object('dba_x', ST_X(ST_Centroid(NEW.geom)));
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER dba_centroid BEFORE INSERT ON gn_flux.data_json
                 FOR EACH ROW EXECUTE FUNCTION public.dba_centroid();",
        )
        .unwrap();
        assert_eq!(pull("src_dba", "full").status, "success");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_dba' AND geom IS NOT NULL AND item ? 'dba_x'"),
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_dba' AND geom IS NOT NULL")
        );
    }

    #[pg_test]
    fn secrets_can_live_in_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let gn = stand_in(20);
        let dir = std::env::temp_dir().join(format!("gn_flux-pgtest-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("src_file.password");
        std::fs::write(&file, "admin\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Spi::run(&format!(
            "SET LOCAL gn_flux.secrets_directory = {}",
            q(&dir.display().to_string())
        ))
        .unwrap();
        Spi::run(&format!(
            "SELECT gn_flux.add_source('src_file', {}, 1, login => 'admin', password_file => 'src_file.password', retry_backoff_ms => 5)",
            q(&gn.url())
        ))
        .unwrap();
        assert_eq!(pull("src_file", "full").status, "success");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_file'"),
            20
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[pg_test]
    #[should_panic(expected = "may be read by other OS users")]
    fn a_secret_file_other_users_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gn_flux-pgtest-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("open.token");
        std::fs::write(&file, "export1-token").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        Spi::run(&format!(
            "SET LOCAL gn_flux.secrets_directory = {}",
            q(&dir.display().to_string())
        ))
        .unwrap();
        Spi::run(
            "SELECT gn_flux.add_source('src_open', 'http://127.0.0.1:9/geonature', 1, token_file => 'open.token')",
        )
        .unwrap();
    }

    #[pg_test]
    fn a_deletion_during_a_page_index_walk_loses_no_live_row() {
        // page-index paging: one upstream deletion while the walk is on page 5 shifts later rows
        // onto pages already fetched; they must still arrive, and must not be reconciled away
        let gn = stand_in(6000);
        add("src_shift", &gn, 1, ", page_size => 500, paging => 'offset'");
        assert_eq!(pull("src_shift", "full").status, "success");
        gn.add_fault(fault(
            "/api/exports",
            FaultAction::Mutate {
                mutation: MutationRequest {
                    delete_ids: (3..=7).collect(),
                    ..MutationRequest::default()
                },
            },
            1,
            5,
        ));
        let p = pull("src_shift", "full");
        assert_eq!(p.status, "success", "{p:?}");
        assert_eq!(p.deleted, 5, "{p:?}");
        assert_eq!(
            count(
                "SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_shift' AND id_data BETWEEN 2501 AND 2505"
            ),
            5
        );
        assert_exact(&gn, "src_shift", 1);
        let comment = Spi::get_one::<String>(
            "SELECT comment FROM gn_flux.import_log WHERE source = 'src_shift' ORDER BY id DESC LIMIT 1",
        )
        .unwrap()
        .unwrap_or_default();
        assert!(comment.contains("walked 2 times"), "{comment}");
        assert_eq!(pull("src_shift", "update").status, "success");
        assert_exact(&gn, "src_shift", 1);
    }

    #[pg_test]
    fn a_future_dated_row_does_not_freeze_update_pulls() {
        let gn = stand_in(100);
        add("src_future", &gn, 1, "");
        assert_eq!(pull("src_future", "full").status, "success");
        gn.mutate(&MutationRequest {
            update_ids: vec![5],
            at: Some("2036-01-01 00:00:00".into()),
            ..MutationRequest::default()
        });
        let p = pull("src_future", "update");
        assert_eq!((p.status.as_str(), p.updated), ("success", 1), "{p:?}");
        let capped = Spi::get_one::<bool>(
            "SELECT watermark < localtimestamp + interval '2 days' FROM gn_flux.source WHERE name = 'src_future'",
        )
        .unwrap();
        assert_eq!(capped, Some(true));
        let comment = Spi::get_one::<String>(
            "SELECT comment FROM gn_flux.import_log WHERE source = 'src_future' ORDER BY id DESC LIMIT 1",
        )
        .unwrap()
        .unwrap_or_default();
        assert!(
            comment.contains("derniere_action in the future (2036-01-01"),
            "{comment}"
        );
        // a later change is still seen by the next update pull
        gn.mutate(&MutationRequest {
            update_ids: vec![6],
            ..MutationRequest::default()
        });
        let p = pull("src_future", "update");
        assert!(p.updated >= 1, "{p:?}");
        assert_exact(&gn, "src_future", 1);
    }

    #[pg_test]
    fn a_reply_larger_than_the_cap_fails_the_run_cleanly() {
        let gn = stand_in(2000);
        add("src_big", &gn, 1, "");
        Spi::run("SET LOCAL gn_flux.max_reply_size = '64kB'").unwrap();
        let p = pull("src_big", "full");
        assert_eq!(p.status, "failed", "{p:?}");
        assert!(p.message.clone().unwrap_or_default().contains("65536"), "{p:?}");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_big'"),
            0
        );
    }

    #[pg_test]
    fn a_remote_that_repeats_its_page_stops_the_run() {
        let gn = stand_in(3000);
        add("src_loop", &gn, 1, "");
        gn.add_fault(fault("/api/exports", FaultAction::Repeat, 1000, 1));
        let p = pull("src_loop", "full");
        assert_eq!(p.status, "failed", "{p:?}");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_loop'"),
            0
        );
    }

    #[pg_test]
    fn public_feature_collection_export_takes_feature_geometries() {
        let gn = stand_in(200);
        Spi::run(&format!(
            "SELECT gn_flux.add_source('src_pub', {}, 3, retry_backoff_ms => 5)",
            q(&gn.url())
        ))
        .unwrap();
        let p = pull("src_pub", "full");
        assert_eq!(p.status, "success", "{p:?}");
        // NULL geometries are dropped by GeoNature in FeatureCollection mode
        let stored = count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub'");
        assert!(stored > 180 && stored <= 200, "{stored}");
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub' AND geom IS NULL"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM gn_flux.data_json WHERE source = 'src_pub' AND NOT ST_Equals(geom, ST_GeomFromText(item->>'wkt_4326', 4326))"),
            0
        );
    }
}
