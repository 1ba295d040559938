//! Exports end to end: files written by gn_flux inside PostgreSQL, read back by real readers
//! (GDAL's ogrinfo, the csv crate, calamine for XLSX, a zip reader, serde_json), privileges,
//! atomic writes, and scheduled exports run by pg_cron.
//!
//! Needs GN_FLUX_E2E_EXPORT_DSN (a database with pg_cron and gn_flux, the one pg_cron runs in) and
//! GN_FLUX_E2E_EXPORT_DIR (= gn_flux.export_directory of that cluster); tests/e2e/run.sh sets both.
use gn_flux_e2e::fixtures::{
    chown_postgres, connect, connect_with_notices, entries, export_dir, ogrinfo, save, scratch, sha256_hex, sqlstate,
    EXPORT_DSN,
};
use gn_flux_e2e::Client;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROWS: i64 = 3000;

/// The fixture: 3000 observations in Lambert-93 with accents, quotes, `;`, newlines, NULLs and a
/// long text; a view mixing geometry types; an empty view; a view failing at row 2500.
fn setup(c: &mut Client) {
    c.batch_execute(&format!(
        r#"
        SELECT gn_flux.drop_export(label) FROM gn_flux.export WHERE label LIKE 'E2E%';
        DROP SCHEMA IF EXISTS e2e_exp CASCADE;
        CREATE SCHEMA e2e_exp;
        CREATE TABLE e2e_exp.obs (
            id_synthese integer PRIMARY KEY,
            nom_cite text,
            observateurs_liste text,
            altitude double precision,
            count_min integer,
            is_valid boolean,
            date_min date,
            derniere_action timestamp,
            geom geometry(Point, 2154));
        INSERT INTO e2e_exp.obs
        SELECT i,
               CASE WHEN i % 10 = 0 THEN NULL ELSE format(E'Élan "%s"; ligne\nsuite', i) END,
               CASE WHEN i = 1 THEN repeat('é', 200) ELSE 'Dupont; Durand' END,
               1000 + i * 0.5, i % 7, i % 2 = 0,
               date '2024-01-01' + (i % 365),
               timestamp '2024-06-01 10:00' + i * interval '1 minute',
               CASE WHEN i % 100 = 0 THEN NULL ELSE ST_SetSRID(ST_MakePoint(650000 + i * 10, 6650000 + i * 5), 2154) END
          FROM generate_series(1, {ROWS}) i;
        CREATE VIEW e2e_exp.v_obs AS SELECT * FROM e2e_exp.obs;
        CREATE VIEW e2e_exp.v_empty AS SELECT * FROM e2e_exp.obs WHERE false;
        CREATE VIEW e2e_exp.v_boom AS SELECT id_synthese, 10 / (id_synthese - 2500) AS boom, geom FROM e2e_exp.obs ORDER BY id_synthese;
        CREATE TABLE e2e_exp.mixed (id integer PRIMARY KEY, kind text, geom geometry(Geometry, 4326));
        INSERT INTO e2e_exp.mixed VALUES
            (1, 'point', 'SRID=4326;POINT(6.1 45.1)'),
            (2, 'polygon', 'SRID=4326;POLYGON((6 45, 6 45.1, 6.1 45.1, 6.1 45, 6 45))'),
            (3, 'line', 'SRID=4326;LINESTRING(6 45, 6.2 45.2)'),
            (4, 'point', 'SRID=4326;POINT(6.2 45.2)'),
            (5, 'multipolygon', 'SRID=4326;MULTIPOLYGON(((7 45, 7 45.1, 7.1 45.1, 7 45)))');
        SELECT gn_flux.add_export('E2E Obs', 'e2e_exp', 'v_obs');
        SELECT gn_flux.add_export('E2E Boom', 'e2e_exp', 'v_boom');
        "#
    ))
    .unwrap();
}

fn export_view(c: &mut Client, view: &str, format: &str, filters: &str, srid: Option<i32>) -> Vec<u8> {
    c.query_one(
        "SELECT gn_flux.export_view('e2e_exp', $1::text, $2::text, $3::text::jsonb, $4::int)",
        &[&view, &format, &filters, &srid],
    )
    .unwrap()
    .get(0)
}

/// `export_to_file` in every format; each file read back by an independent reader.
#[test]
fn every_format_is_read_back_by_a_real_reader() {
    let (mut c, notices) = connect_with_notices(EXPORT_DSN);
    setup(&mut c);
    let dir = export_dir().join("formats");
    let first_name: String = c
        .query_one("SELECT nom_cite FROM e2e_exp.obs WHERE id_synthese = 1", &[])
        .unwrap()
        .get(0);
    for (format, file) in [
        ("csv", "obs.csv"),
        ("json", "obs.json"),
        ("geojson", "obs.geojson"),
        ("gpkg", "obs.gpkg"),
        ("shp", "obs.zip"),
        ("xlsx", "obs.xlsx"),
    ] {
        let target = dir.join(file);
        let row = c
            .query_one(
                "SELECT path, rows, bytes, sha256 FROM gn_flux.export_to_file('E2E Obs', $1::text, $2::text)",
                &[&format, &target.display().to_string()],
            )
            .unwrap();
        let (path, rows, bytes, sha): (String, i64, i64, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(PathBuf::from(&path), target);
        assert_eq!(rows, ROWS, "{format}");
        let content = std::fs::read(&target).unwrap();
        assert_eq!(bytes as usize, content.len(), "{format}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "{format}: a private export is readable by the server's OS user only"
        );
        assert_eq!(sha, sha256_hex(&content), "{format}");
        match format {
            "csv" => {
                let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_path(&target).unwrap();
                let headers = reader.headers().unwrap().clone();
                assert_eq!(
                    headers.iter().collect::<Vec<_>>(),
                    [
                        "id_synthese",
                        "nom_cite",
                        "observateurs_liste",
                        "altitude",
                        "count_min",
                        "is_valid",
                        "date_min",
                        "derniere_action",
                        "geom"
                    ]
                );
                let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
                assert_eq!(records.len() as i64, ROWS);
                assert_eq!(&records[0][1], first_name.as_str());
                assert_eq!(&records[9][1], "", "NULL is an empty field");
                assert_eq!(&records[0][6], "2024-01-02");
                assert_eq!(&records[0][8], "POINT(650010 6650005)");
                assert!(std::fs::read_to_string(&target).unwrap().contains("\r\n"));
            }
            "json" => {
                let items: serde_json::Value = serde_json::from_slice(&content).unwrap();
                let items = items.as_array().unwrap();
                assert_eq!(items.len() as i64, ROWS);
                assert_eq!(items[0]["altitude"], 1000.5);
                assert_eq!(items[0]["is_valid"], false);
                assert_eq!(items[0]["nom_cite"], first_name.as_str());
                assert_eq!(items[0]["derniere_action"], "2024-06-01T10:01:00");
                assert_eq!(items[99]["geom"], serde_json::Value::Null);
            }
            "geojson" => {
                let info = ogrinfo(&path);
                assert!(info.contains(&format!("Feature Count: {ROWS}")), "{info}");
                assert!(info.contains("WGS 84"), "GeoJSON is EPSG:4326: {info}");
                let fc: serde_json::Value = serde_json::from_slice(&content).unwrap();
                let f = &fc["features"][0];
                assert_eq!(f["id"], 1);
                let lon = f["geometry"]["coordinates"][0].as_f64().unwrap();
                let lat = f["geometry"]["coordinates"][1].as_f64().unwrap();
                assert!(
                    (2.0..3.0).contains(&lon) && (46.0..47.5).contains(&lat),
                    "reprojected to 4326: {lon} {lat}"
                );
            }
            "gpkg" => {
                let info = ogrinfo(&path);
                assert!(info.contains(&format!("Feature Count: {ROWS}")), "{info}");
                assert!(info.contains("Lambert-93"), "{info}");
                let out = std::process::Command::new("ogrinfo")
                    .args(["-ro", &path, "-sql", "SELECT HasSpatialIndex('v_obs', 'geom')"])
                    .output()
                    .unwrap();
                assert!(String::from_utf8_lossy(&out.stdout).contains("= 1"), "spatial index");
                for field in [
                    "id_synthese: Integer64",
                    "nom_cite: String",
                    "altitude: Real",
                    "count_min: Integer64",
                    "is_valid: Integer(Boolean)",
                    "date_min: Date",
                    "derniere_action: DateTime",
                ] {
                    assert!(info.contains(field), "{field} missing in {info}");
                }
            }
            "shp" => {
                let mut zip = zip::ZipArchive::new(std::fs::File::open(&target).unwrap()).unwrap();
                let mut names: Vec<String> = (0..zip.len())
                    .map(|i| zip.by_index(i).unwrap().name().to_string())
                    .collect();
                names.sort();
                assert_eq!(names, ["v_obs.cpg", "v_obs.dbf", "v_obs.prj", "v_obs.shp", "v_obs.shx"]);
                let info = ogrinfo(&format!("/vsizip/{path}"));
                assert!(info.contains(&format!("Feature Count: {ROWS}")), "{info}");
                for field in [
                    "id_synthes: Integer64",
                    "nom_cite: String",
                    "observateu: String",
                    "date_min: Date",
                    "derniere_a: String",
                ] {
                    assert!(info.contains(field), "{field} missing in {info}");
                }
                assert!(
                    info.contains("Lambert-93") || info.contains("Lambert_Conformal_Conic"),
                    "{info}"
                );
            }
            "xlsx" => {
                use calamine::{Data, Reader, Xlsx};
                let mut book: Xlsx<_> = calamine::open_workbook(&target).unwrap();
                let sheet = book.worksheet_range("v_obs").unwrap();
                assert_eq!(sheet.height() as i64, ROWS + 1);
                assert_eq!(sheet.get((0, 1)), Some(&Data::String("nom_cite".into())));
                assert_eq!(sheet.get((1, 0)), Some(&Data::Float(1.0)));
                assert_eq!(sheet.get((1, 1)), Some(&Data::String(first_name.clone())));
                assert_eq!(sheet.get((1, 3)), Some(&Data::Float(1000.5)));
                assert!(
                    matches!(sheet.get((1, 6)), Some(Data::DateTime(_))),
                    "{:?}",
                    sheet.get((1, 6))
                );
                assert_eq!(sheet.get((1, 8)), Some(&Data::String("POINT(650010 6650005)".into())));
            }
            _ => unreachable!(),
        }
    }
    // The 400-byte text of row 1 did not fit the DBF limit, and long names were cut.
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("observateu") && n.contains("truncated")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("\"derniere_action\" is named \"derniere_a\"")),
        "{notices:?}"
    );
    let logged: i64 = c
        .query_one("SELECT count(*) FROM gn_flux.export_log WHERE label = 'E2E Obs' AND status = 'success' AND schedule_id IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(logged >= 6);
}

#[test]
fn filters_and_reprojection() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let filters =
        r#"{"filter_n_up_altitude": 1500, "ilike_nom_cite": "LAN", "filter_d_lo_derniere_action": "2024-06-02 12:00"}"#;
    let json = export_view(&mut c, "v_obs", "json", filters, None);
    let items: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let want: i64 = c
        .query_one(
            "SELECT count(*) FROM e2e_exp.v_obs WHERE altitude >= 1500 AND nom_cite ILIKE '%lan%' AND derniere_action <= '2024-06-02 12:00'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(want > 0);
    assert_eq!(items.as_array().unwrap().len() as i64, want);
    // Geometry filter (WKT in EPSG:4326) against a Lambert-93 column, and reprojection of a GPKG.
    let bbox = r#"{"geometry": "POLYGON((-1 40, 2.8 40, 2.8 50, -1 50, -1 40))"}"#;
    let inside = export_view(&mut c, "v_obs", "gpkg", bbox, Some(4326));
    let dir = scratch("filters");
    let p = save(&dir, "west.gpkg", &inside);
    let info = ogrinfo(p.to_str().unwrap());
    let want: i64 = c
        .query_one(
            "SELECT count(*) FROM e2e_exp.v_obs WHERE ST_Intersects(geom, ST_Transform(ST_GeomFromText('POLYGON((-1 40, 2.8 40, 2.8 50, -1 50, -1 40))', 4326), 2154))",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(want > 0 && want < ROWS);
    assert!(info.contains(&format!("Feature Count: {want}")), "{info}");
    assert!(info.contains("WGS 84"), "{info}");
    let extent = info.lines().find(|l| l.starts_with("Extent:")).unwrap();
    assert!(
        extent.contains("(2.") || extent.contains("(1."),
        "degrees after reprojection: {extent}"
    );
}

#[test]
fn mixed_geometry_types_become_one_shapefile_layer_each() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let zip_bytes = export_view(&mut c, "mixed", "shp", "{}", None);
    let dir = scratch("mixed");
    let p = save(&dir, "mixed.zip", &zip_bytes);
    let info = ogrinfo(&format!("/vsizip/{}", p.display()));
    for (layer, count) in [("mixed_point", 2), ("mixed_linestring", 1), ("mixed_polygon", 2)] {
        let at = info
            .find(&format!("Layer name: {layer}"))
            .unwrap_or_else(|| panic!("{layer} missing: {info}"));
        let rest = &info[at..];
        assert!(rest.contains(&format!("Feature Count: {count}")), "{layer}: {rest}");
    }
    // The same view in a GeoPackage is one layer of type GEOMETRY.
    let gpkg = export_view(&mut c, "mixed", "gpkg", "{}", None);
    let info = ogrinfo(save(&dir, "mixed.gpkg", &gpkg).to_str().unwrap());
    assert!(info.contains("Feature Count: 5"), "{info}");
}

#[test]
fn empty_views_give_valid_empty_files() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let dir = scratch("empty");
    for format in ["csv", "json", "geojson", "gpkg", "shp", "xlsx"] {
        let bytes = export_view(&mut c, "v_empty", format, "{}", None);
        let ext = if format == "shp" { "zip" } else { format };
        let p = save(&dir, &format!("empty.{ext}"), &bytes);
        match format {
            "csv" => {
                let mut r = csv::ReaderBuilder::new().delimiter(b';').from_path(&p).unwrap();
                assert_eq!(r.headers().unwrap().len(), 9);
                assert_eq!(r.records().count(), 0);
            }
            "json" => assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                serde_json::json!([])
            ),
            "xlsx" => {
                use calamine::Reader;
                let mut book: calamine::Xlsx<_> = calamine::open_workbook(&p).unwrap();
                assert_eq!(book.worksheet_range("v_empty").unwrap().height(), 1);
            }
            "shp" => assert!(ogrinfo(&format!("/vsizip/{}", p.display())).contains("Feature Count: 0")),
            _ => assert!(ogrinfo(p.to_str().unwrap()).contains("Feature Count: 0"), "{format}"),
        }
    }
}

#[test]
fn privileges_are_those_of_the_calling_role() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    c.batch_execute(
        "DROP ROLE IF EXISTS e2e_exp_writer; CREATE ROLE e2e_exp_writer;
         GRANT USAGE ON SCHEMA e2e_exp TO e2e_exp_writer;",
    )
    .unwrap();
    let target = export_dir().join("privileges/obs.csv");
    let _ = std::fs::remove_file(&target);
    c.batch_execute("SET ROLE e2e_exp_writer").unwrap();
    let err = c
        .query_one("SELECT gn_flux.export_view('e2e_exp', 'v_obs', 'csv')", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    let err = c
        .query_one(
            "SELECT * FROM gn_flux.export_to_file('E2E Obs', 'csv', $1::text)",
            &[&target.display().to_string()],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    c.batch_execute("RESET ROLE; GRANT SELECT ON e2e_exp.v_obs TO e2e_exp_writer; GRANT pg_write_server_files TO e2e_exp_writer; SET ROLE e2e_exp_writer")
        .unwrap();
    let rows: i64 = c
        .query_one(
            "SELECT rows FROM gn_flux.export_to_file('E2E Obs', 'csv', $1::text)",
            &[&target.display().to_string()],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, ROWS);
    let run_by: String = c
        .query_one(
            "SELECT run_by::text FROM gn_flux.export_log ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(run_by, "e2e_exp_writer");
    c.batch_execute("RESET ROLE; DROP OWNED BY e2e_exp_writer; DROP ROLE e2e_exp_writer")
        .unwrap();
}

#[test]
fn a_failed_export_to_file_leaves_no_partial_file() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let dir = export_dir().join("atomic");
    std::fs::create_dir_all(&dir).unwrap();
    chown_postgres(&dir);
    let target = dir.join("boom.csv");
    std::fs::write(&target, "previous file\n").unwrap();
    for format in ["csv", "gpkg", "shp", "xlsx"] {
        let err = c
            .query_one(
                "SELECT * FROM gn_flux.export_to_file('E2E Boom', $1::text, $2::text)",
                &[&format, &target.display().to_string()],
            )
            .unwrap_err();
        assert_eq!(sqlstate(&err), "22012", "{format}: {err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous file\n", "{format}");
        let leftovers: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "boom.csv")
            .collect();
        assert!(leftovers.is_empty(), "{format}: {leftovers:?}");
    }
}

#[test]
fn scheduled_exports_run_through_pg_cron_and_are_logged() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let dir = export_dir().join("scheduled");
    let _ = std::fs::remove_dir_all(&dir);
    let err = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Obs', 'csv', $1::text, 'every night')",
            &[&dir.display().to_string()],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{err}");
    let good: i64 = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Obs', 'csv', $1::text, '* * * * *')",
            &[&dir.display().to_string()],
        )
        .unwrap()
        .get(0);
    let bad: i64 = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Boom', 'gpkg', $1::text, '* * * * *')",
            &[&dir.display().to_string()],
        )
        .unwrap()
        .get(0);
    assert!(good > 0 && bad > 0);
    let command: String = c
        .query_one("SELECT command FROM cron.job WHERE jobid = $1", &[&good])
        .unwrap()
        .get(0);
    assert!(command.starts_with("SELECT gn_flux._run_export_schedule("), "{command}");
    // pg_cron starts jobs at the next minute.
    let deadline = Instant::now() + Duration::from_secs(130);
    loop {
        let runs: i64 = c
            .query_one(
                "SELECT count(DISTINCT l.label) FROM gn_flux.export_log l JOIN gn_flux.export_schedule s ON s.id = l.schedule_id",
                &[],
            )
            .unwrap()
            .get(0);
        if runs == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pg_cron did not run both exports within 130 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let rows = c
        .query(
            "SELECT label, status, path, rows, bytes, sha256, error FROM gn_flux.export_log WHERE schedule_id IS NOT NULL ORDER BY id",
            &[],
        )
        .unwrap();
    let ok = rows.iter().find(|r| r.get::<_, String>(0) == "E2E Obs").unwrap();
    assert_eq!(ok.get::<_, String>(1), "success");
    let path: String = ok.get(2);
    assert!(path.contains("/E2E_Obs_") && path.ends_with(".csv"), "{path}");
    assert_eq!(ok.get::<_, i64>(3), ROWS);
    let content = std::fs::read(&path).unwrap();
    assert_eq!(ok.get::<_, i64>(4) as usize, content.len());
    assert_eq!(ok.get::<_, String>(5), sha256_hex(&content));
    assert_eq!(
        std::fs::read(dir.join("E2E_Obs.csv")).unwrap(),
        content,
        "E2E_Obs.csv names the newest file"
    );
    let failed = rows.iter().find(|r| r.get::<_, String>(0) == "E2E Boom").unwrap();
    assert_eq!(failed.get::<_, String>(1), "failed");
    assert!(
        failed.get::<_, String>(6).contains("division by zero"),
        "{:?}",
        failed.get::<_, Option<String>>(6)
    );
    let status = c
        .query_one(
            "SELECT last_status, failures_since_success FROM gn_flux.export_status WHERE label = 'E2E Boom'",
            &[],
        )
        .unwrap();
    assert_eq!(status.get::<_, String>(0), "failed");
    assert!(status.get::<_, i64>(1) >= 1);

    // Retention: once older than gn_flux.export_retention_days, a file goes at the next run.
    c.batch_execute(
        "SELECT gn_flux.unschedule_export('E2E Boom');
         UPDATE gn_flux.export_log SET ended_at = now() - interval '30 days' WHERE label = 'E2E Obs' AND schedule_id IS NOT NULL",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let schedule_id: i32 = c
        .query_one("SELECT s.id FROM gn_flux.export_schedule s JOIN gn_flux.export e ON e.id = s.export_id WHERE e.label = 'E2E Obs'", &[])
        .unwrap()
        .get(0);
    let status: String = c
        .query_one("SELECT gn_flux._run_export_schedule($1)", &[&schedule_id])
        .unwrap()
        .get(0);
    assert_eq!(status, "success");
    assert!(!Path::new(&path).exists(), "the expired file {path} was removed");
    let removed: i64 = c
        .query_one(
            "SELECT count(*) FROM gn_flux.export_log WHERE path = $1 AND removed_at IS NOT NULL",
            &[&path],
        )
        .unwrap()
        .get(0);
    assert_eq!(removed, 1);
    let newest: String = c
        .query_one(
            "SELECT path FROM gn_flux.export_log WHERE schedule_id = $1 ORDER BY id DESC LIMIT 1",
            &[&schedule_id],
        )
        .unwrap()
        .get(0);
    assert!(Path::new(&newest).exists());
    assert_eq!(
        c.query_one("SELECT gn_flux.unschedule_export('E2E Obs')", &[])
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    let jobs: i64 = c
        .query_one(
            "SELECT count(*) FROM cron.job WHERE jobname LIKE 'gn_flux_export_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(jobs, 0);
}

/// File modes follow the export's `public` flag, and a symbolic link at the target name is
/// replaced by the rename, never written through.
#[test]
fn file_modes_follow_the_public_flag_and_links_at_the_target_are_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    c.batch_execute("SELECT gn_flux.add_export('E2E Public', 'e2e_exp', 'v_obs', public => true)")
        .unwrap();
    let dir = export_dir().join("modes");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    chown_postgres(&dir);
    for (label, file, want) in [("E2E Obs", "private.csv", 0o600), ("E2E Public", "public.csv", 0o644)] {
        let target = dir.join(file);
        c.query_one(
            "SELECT rows FROM gn_flux.export_to_file($1::text, 'csv', $2::text)",
            &[&label, &target.display().to_string()],
        )
        .unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, want, "{label}");
    }
    // A link planted at the target name, pointing outside: replaced, its target untouched.
    let outside = scratch("link_victim");
    chown_postgres(&outside);
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "keep\n").unwrap();
    chown_postgres(&victim);
    let linked = dir.join("linked.csv");
    std::os::unix::fs::symlink(&victim, &linked).unwrap();
    c.query_one(
        "SELECT rows FROM gn_flux.export_to_file('E2E Obs', 'csv', $1::text)",
        &[&linked.display().to_string()],
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    let meta = std::fs::symlink_metadata(&linked).unwrap();
    assert!(meta.file_type().is_file(), "the link was replaced by the export file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // No temporary file or directory is left behind.
    assert_eq!(entries(&dir), ["linked.csv", "private.csv", "public.csv"]);
}

/// A directory reached through a symbolic link leading outside gn_flux.export_directory is
/// refused before anything is created (export_to_file and schedule_export alike).
#[test]
fn directories_escaping_through_a_link_create_nothing_outside() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let outside = scratch("escape_outside");
    chown_postgres(&outside);
    let link = export_dir().join("escape");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = c
        .query_one(
            "SELECT * FROM gn_flux.export_to_file('E2E Obs', 'csv', $1::text)",
            &[&link.join("a/b/obs.csv").display().to_string()],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    let err = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Obs', 'csv', 'escape/nightly', '0 3 1 1 *')",
            &[],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert!(entries(&outside).is_empty(), "created outside: {:?}", entries(&outside));
    std::fs::remove_file(&link).unwrap();
}

/// Two labels giving the same file stem (Synthèse / Synthese) would replace each other's
/// scheduled files: the second is refused.
#[test]
fn labels_with_the_same_file_stem_are_refused() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    let err = c
        .batch_execute("SELECT gn_flux.add_export('E2E Öbs', 'e2e_exp', 'v_obs')")
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42710", "{err}");
    let db = err.as_db_error().unwrap();
    assert!(db.message().contains("E2E_Obs"), "{}", db.message());
    assert!(db.hint().is_some());
}

/// As non-superuser members of pg_write_server_files: another role's schedule can be neither
/// changed nor run, its runs cannot be forged, and retention removes only the files a schedule
/// generated in its own directory, whatever gn_flux.export_log says.
#[test]
fn schedules_and_logs_belong_to_their_owner_and_retention_removes_only_its_files() {
    let mut c = connect(EXPORT_DSN);
    setup(&mut c);
    c.batch_execute(
        "DROP ROLE IF EXISTS e2e_exp_alice; DROP ROLE IF EXISTS e2e_exp_bob;
         CREATE ROLE e2e_exp_alice; CREATE ROLE e2e_exp_bob;
         GRANT pg_write_server_files TO e2e_exp_alice, e2e_exp_bob;
         GRANT USAGE ON SCHEMA cron, e2e_exp TO e2e_exp_alice, e2e_exp_bob;
         GRANT SELECT ON e2e_exp.v_obs TO e2e_exp_alice, e2e_exp_bob;
         SELECT gn_flux.add_export('E2E Bob', 'e2e_exp', 'v_obs');",
    )
    .unwrap();
    let alice_dir = export_dir().join("alice");
    let bob_dir = export_dir().join("bob");
    for d in [&alice_dir, &bob_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
    c.batch_execute("SET ROLE e2e_exp_alice").unwrap();
    let alice_job: i64 = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Obs', 'csv', $1::text, '0 3 1 1 *')",
            &[&alice_dir.display().to_string()],
        )
        .unwrap()
        .get(0);
    assert!(alice_job > 0);
    c.batch_execute("RESET ROLE").unwrap();
    let alice_schedule: i32 = c
        .query_one("SELECT s.id FROM gn_flux.export_schedule s JOIN gn_flux.export e ON e.id = s.export_id WHERE e.label = 'E2E Obs'", &[])
        .unwrap()
        .get(0);

    c.batch_execute("SET ROLE e2e_exp_bob").unwrap();
    let updated = c
        .execute(
            "UPDATE gn_flux.export_schedule SET directory = '/tmp', export_id = (SELECT id FROM gn_flux.export WHERE label = 'E2E Bob') WHERE id = $1",
            &[&alice_schedule],
        )
        .unwrap();
    assert_eq!(updated, 0, "another role's schedule is out of reach");
    let err = c
        .query_one(
            "SELECT gn_flux.schedule_export('E2E Obs', 'csv', $1::text, '* * * * *')",
            &[&bob_dir.display().to_string()],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    let err = c
        .query_one("SELECT gn_flux._run_export_schedule($1)", &[&alice_schedule])
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    let err = c
        .execute(
            "INSERT INTO gn_flux.export_log (label, format, schedule_id, started_at, ended_at, status, path)
             VALUES ('E2E Obs', 'csv', $1, now(), now(), 'success', '/etc/hostname')",
            &[&alice_schedule],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    c.batch_execute("RESET ROLE").unwrap();
    let row = c
        .query_one(
            "SELECT directory, created_by::text FROM gn_flux.export_schedule WHERE id = $1",
            &[&alice_schedule],
        )
        .unwrap();
    assert_eq!(PathBuf::from(row.get::<_, String>(0)), alice_dir);
    assert_eq!(row.get::<_, String>(1), "e2e_exp_alice");

    // Bob's own schedule, one run, then forged log rows for it.
    c.batch_execute("SET ROLE e2e_exp_bob").unwrap();
    c.query_one(
        "SELECT gn_flux.schedule_export('E2E Bob', 'csv', $1::text, '0 3 1 1 *')",
        &[&bob_dir.display().to_string()],
    )
    .unwrap();
    c.batch_execute("RESET ROLE").unwrap();
    let bob_schedule: i32 = c
        .query_one("SELECT s.id FROM gn_flux.export_schedule s JOIN gn_flux.export e ON e.id = s.export_id WHERE e.label = 'E2E Bob'", &[])
        .unwrap()
        .get(0);
    let outside = scratch("retention_victim");
    chown_postgres(&outside);
    let precious = outside.join("E2E_Bob_2020_01_01_03h00m00.csv");
    let not_generated = bob_dir.join("notes.csv");
    let elsewhere = alice_dir.join("E2E_Bob_2020_01_01_03h00m00.csv");
    let expired = bob_dir.join("E2E_Bob_2020_01_01_03h00m00.csv");
    for f in [&precious, &not_generated, &elsewhere, &expired] {
        std::fs::write(f, "keep\n").unwrap();
        chown_postgres(f);
    }
    c.batch_execute("SET ROLE e2e_exp_bob").unwrap();
    let status: String = c
        .query_one("SELECT gn_flux._run_export_schedule($1)", &[&bob_schedule])
        .unwrap()
        .get(0);
    assert_eq!(status, "success");
    for f in [&precious, &not_generated, &elsewhere, &expired] {
        c.execute(
            "INSERT INTO gn_flux.export_log (export_id, label, format, schedule_id, started_at, ended_at, status, path)
             SELECT id, 'E2E Bob', 'csv', $1, now() - interval '30 days', now() - interval '30 days', 'success', $2::text
               FROM gn_flux.export WHERE label = 'E2E Bob'",
            &[&bob_schedule, &f.display().to_string()],
        )
        .unwrap();
    }
    // The newest run's file is never removed: run once more so the first run is not the newest.
    std::thread::sleep(Duration::from_millis(1100));
    let status: String = c
        .query_one("SELECT gn_flux._run_export_schedule($1)", &[&bob_schedule])
        .unwrap()
        .get(0);
    assert_eq!(status, "success");
    c.batch_execute("RESET ROLE").unwrap();
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "keep\n",
        "outside the export directory"
    );
    assert!(not_generated.exists(), "not a name the schedule generates");
    assert!(elsewhere.exists(), "in another schedule's directory");
    assert!(!expired.exists(), "an expired file of the schedule itself is removed");

    c.batch_execute(
        "SELECT gn_flux.drop_export(label) FROM gn_flux.export WHERE label IN ('E2E Obs', 'E2E Bob');
         DROP OWNED BY e2e_exp_alice, e2e_exp_bob; DROP ROLE e2e_exp_alice; DROP ROLE e2e_exp_bob;",
    )
    .unwrap();
    let jobs: i64 = c
        .query_one(
            "SELECT count(*) FROM cron.job WHERE jobname LIKE 'gn_flux_export_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(jobs, 0, "the superuser removed both roles' pg_cron jobs");
}
