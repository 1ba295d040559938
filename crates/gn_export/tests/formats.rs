//! Every format written, then read back by an independent reader: the csv crate, serde_json,
//! SQLite, calamine (XLSX), the zip + dbase + shapefile readers, and GDAL's ogrinfo when present.

use chrono::NaiveDate;
use gn_export::{
    create_writer, Field, FieldType, Format, GeometryKind, Layout, Options, Row, ShapeLayerKind, ShpPlan, Value,
};
use std::path::Path;

fn point(x: f64, y: f64) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&(1u32 | 0x2000_0000).to_le_bytes());
    v.extend_from_slice(&2154i32.to_le_bytes());
    v.extend_from_slice(&x.to_le_bytes());
    v.extend_from_slice(&y.to_le_bytes());
    v
}

fn square(x: f64, y: f64) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&5u32.to_le_bytes());
    for (px, py) in [(x, y), (x, y + 1.0), (x + 1.0, y + 1.0), (x + 1.0, y), (x, y)] {
        v.extend_from_slice(&px.to_le_bytes());
        v.extend_from_slice(&py.to_le_bytes());
    }
    v
}

const NASTY: &str = "Élan \"quoted\"; semi\nnew line";

fn layout(kind: GeometryKind) -> Layout {
    Layout {
        name: "v_obs".into(),
        fields: vec![
            Field::new("id_synthese", FieldType::Int),
            Field::new("nom_cite", FieldType::Text),
            Field::new("altitude", FieldType::Float),
            Field::new("count_min", FieldType::Numeric),
            Field::new("is_valid", FieldType::Bool),
            Field::new("date_min", FieldType::Date),
            Field::new("derniere_action", FieldType::Timestamp),
            Field::new("observateurs_liste", FieldType::Text),
            Field::new("observateurs_bis", FieldType::Text),
            Field::new("geom", FieldType::Geometry),
        ],
        geometry: Some(9),
        srid: Some(2154),
        srs_wkt: Some("PROJCS[\"RGF93 v1 / Lambert-93\",GEOGCS[\"RGF93 v1\",DATUM[\"Reseau_Geodesique_Francais_1993_v1\",SPHEROID[\"GRS 1980\",6378137,298.257222101]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],PROJECTION[\"Lambert_Conformal_Conic_2SP\"],PARAMETER[\"latitude_of_origin\",46.5],PARAMETER[\"central_meridian\",3],PARAMETER[\"standard_parallel_1\",49],PARAMETER[\"standard_parallel_2\",44],PARAMETER[\"false_easting\",700000],PARAMETER[\"false_northing\",6600000],UNIT[\"metre\",1],AUTHORITY[\"EPSG\",\"2154\"]]".into()),
        srs_authority: Some(("EPSG".into(), 2154)),
        geometry_kind: kind,
        pk: Some(0),
    }
}

fn rows(n: i64, mixed: bool) -> Vec<Row> {
    (1..=n)
        .map(|i| {
            let geom = if i == 3 {
                Value::Null
            } else if mixed && i % 2 == 0 {
                Value::Geometry(square(700_000.0 + i as f64, 6_600_000.0))
            } else {
                Value::Geometry(point(700_000.0 + i as f64, 6_600_000.5))
            };
            vec![
                Value::Int(i),
                if i == 2 {
                    Value::Null
                } else {
                    Value::Text(format!("{NASTY} {i}"))
                },
                Value::Float(1000.5 + i as f64),
                Value::Numeric("2.50".into()),
                Value::Bool(i % 2 == 0),
                Value::Date(NaiveDate::from_ymd_opt(2024, 5, i as u32 % 28 + 1).unwrap()),
                Value::Timestamp(
                    NaiveDate::from_ymd_opt(2024, 6, 1)
                        .unwrap()
                        .and_hms_opt(10, 0, i as u32 % 60)
                        .unwrap(),
                ),
                Value::Text("é".repeat(200)),
                Value::Text("x".into()),
                geom,
            ]
        })
        .collect()
}

fn write(
    format: Format,
    layout: &Layout,
    options: &Options,
    rows: &[Row],
    dir: &Path,
) -> (std::path::PathBuf, gn_export::Summary) {
    let path = dir.join(format!("out.{}", format.extension()));
    let mut writer = create_writer(format, layout, options, &path).unwrap();
    for chunk in rows.chunks(3) {
        writer.write_rows(chunk).unwrap();
    }
    let summary = writer.finish().unwrap();
    (path, summary)
}

/// GDAL's reader; scripts/lib.sh installs gdal-bin, so a missing ogrinfo fails the test.
fn ogrinfo(path: &str) -> String {
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-so", path])
        .output()
        .expect("ogrinfo (Debian package gdal-bin) must be installed");
    assert!(
        out.status.success(),
        "ogrinfo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn csv_is_geonature_style_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let (path, summary) = write(
        Format::Csv,
        &layout(GeometryKind::Point),
        &Options::default(),
        &rows(5, false),
        dir.path(),
    );
    assert_eq!(summary.rows, 5);
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.starts_with("\"id_synthese\";\"nom_cite\";"));
    assert!(raw.contains("\r\n"));
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_path(&path).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 5);
    assert_eq!(&records[0][1], &format!("{NASTY} 1"));
    assert_eq!(&records[1][1], "");
    assert_eq!(&records[0][2], "1001.5");
    assert_eq!(&records[0][4], "False");
    assert_eq!(&records[0][6], "2024-06-01T10:00:01");
    assert_eq!(&records[0][9], "POINT(700001 6600000.5)");
    assert_eq!(&records[2][9], "");

    let options = Options {
        csv_separator: b',',
        ..Options::default()
    };
    let (path, _) = write(
        Format::Csv,
        &layout(GeometryKind::Point),
        &options,
        &rows(2, false),
        dir.path(),
    );
    let mut reader = csv::ReaderBuilder::new().delimiter(b',').from_path(&path).unwrap();
    assert_eq!(reader.headers().unwrap().len(), 10);
}

#[test]
fn json_and_geojson_parse() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(
        Format::Json,
        &layout(GeometryKind::Point),
        &Options::default(),
        &rows(4, false),
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["id_synthese"], 1);
    assert_eq!(items[0]["count_min"], 2.5);
    assert_eq!(items[0]["nom_cite"], format!("{NASTY} 1"));
    assert_eq!(items[1]["nom_cite"], serde_json::Value::Null);
    assert_eq!(items[0]["date_min"], "2024-05-02");
    assert_eq!(items[0]["geom"], "POINT(700001 6600000.5)");
    assert_eq!(items[1]["is_valid"], true);

    let (path, _) = write(
        Format::GeoJson,
        &layout(GeometryKind::Point),
        &Options::default(),
        &rows(4, false),
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["type"], "FeatureCollection");
    let features = json["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    assert_eq!(features[0]["id"], 1);
    assert_eq!(features[0]["geometry"]["type"], "Point");
    assert_eq!(features[2]["geometry"], serde_json::Value::Null);
    assert!(features[0]["properties"].get("geom").is_none());
    let info = ogrinfo(path.to_str().unwrap());
    assert!(info.contains("Feature Count: 4"), "{info}");
}

#[test]
fn gpkg_reads_back_with_sqlite_and_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, summary) = write(
        Format::Gpkg,
        &layout(GeometryKind::Point),
        &Options::default(),
        &rows(7, false),
        dir.path(),
    );
    assert_eq!(summary.rows, 7);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM v_obs", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 7);
    let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
    assert_eq!(app, 0x4750_4B47);
    let name: String = conn
        .query_row("SELECT nom_cite FROM v_obs WHERE id_synthese = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, format!("{NASTY} 1"));
    // The R-tree spatial index: one entry per non-NULL geometry (row 3 has none), and its triggers.
    let indexed: i64 = conn
        .query_row("SELECT count(*) FROM rtree_v_obs_geom", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexed, 6);
    let (minx, maxx): (f64, f64) = conn
        .query_row("SELECT minx, maxx FROM rtree_v_obs_geom WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(
        (minx - 700_001.0).abs() < 1.0 && (maxx - 700_001.0).abs() < 1.0,
        "{minx} {maxx}"
    );
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_v_obs_geom_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 6);
    drop(conn);
    let info = ogrinfo(path.to_str().unwrap());
    assert!(info.contains("Feature Count: 7"), "{info}");
    assert!(info.contains("Geometry: Point"), "{info}");
    for field in [
        "id_synthese: Integer64",
        "altitude: Real",
        "is_valid: Integer(Boolean)",
        "date_min: Date",
        "derniere_action: DateTime",
        "nom_cite: String",
    ] {
        assert!(info.contains(field), "{field} missing in\n{info}");
    }
    assert!(info.contains("Lambert-93") || info.contains("2154"), "{info}");
    let out = std::process::Command::new("ogrinfo")
        .args([
            "-ro",
            path.to_str().unwrap(),
            "-sql",
            "SELECT HasSpatialIndex('v_obs', 'geom')",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("= 1"), "GDAL sees the spatial index: {text}");
    // Without the index: no R-tree table, no extension row.
    let options = Options {
        gpkg_spatial_index: false,
        ..Options::default()
    };
    let sub = dir.path().join("noindex");
    std::fs::create_dir_all(&sub).unwrap();
    let (path, _) = write(
        Format::Gpkg,
        &layout(GeometryKind::Point),
        &options,
        &rows(3, false),
        &sub,
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'rtree%' OR name = 'gpkg_extensions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

#[test]
fn xlsx_reads_back_with_calamine() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        xlsx_rows_per_sheet: 4,
        ..Options::default()
    };
    let (path, summary) = write(
        Format::Xlsx,
        &layout(GeometryKind::Point),
        &options,
        &rows(10, false),
        dir.path(),
    );
    assert_eq!(summary.rows, 10);
    assert!(
        summary.notices.iter().any(|n| n.contains("3 sheets")),
        "{:?}",
        summary.notices
    );
    let mut book: Xlsx<_> = open_workbook(&path).unwrap();
    let names = book.sheet_names();
    assert_eq!(names, ["v_obs", "v_obs (2)", "v_obs (3)"]);
    let sheet = book.worksheet_range("v_obs").unwrap();
    assert_eq!(sheet.height(), 5);
    assert_eq!(sheet.get((0, 0)), Some(&Data::String("id_synthese".into())));
    assert_eq!(sheet.get((1, 0)), Some(&Data::Float(1.0)));
    assert_eq!(sheet.get((1, 1)), Some(&Data::String(format!("{NASTY} 1"))));
    assert_eq!(sheet.get((2, 1)), Some(&Data::Empty));
    assert_eq!(sheet.get((1, 4)), Some(&Data::Bool(false)));
    assert!(
        matches!(sheet.get((1, 5)), Some(Data::DateTime(_))),
        "{:?}",
        sheet.get((1, 5))
    );
    assert_eq!(sheet.get((1, 9)), Some(&Data::String("POINT(700001 6600000.5)".into())));
    let last = book.worksheet_range("v_obs (3)").unwrap();
    assert_eq!(last.height(), 3);
}

#[test]
fn shapefile_zip_has_one_layer_per_geometry_type() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        shp: Some(ShpPlan {
            layers: vec![ShapeLayerKind::Point, ShapeLayerKind::Polygon],
            text_widths: vec![],
        }),
        ..Options::default()
    };
    let mut long = layout(GeometryKind::Unknown);
    long.fields[7].name = "observateurs_liste".into();
    let mut data = rows(6, true);
    data[0][7] = Value::Text("é".repeat(300));
    let (path, summary) = write(Format::Shp, &long, &options, &data, dir.path());
    assert_eq!(summary.rows, 6);
    assert!(
        summary.notices.iter().any(|n| n.contains("truncated")),
        "{:?}",
        summary.notices
    );
    assert!(
        summary.notices.iter().any(|n| n.contains("\"observat_1\"")),
        "{:?}",
        summary.notices
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut names: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "v_obs_point.cpg",
            "v_obs_point.dbf",
            "v_obs_point.prj",
            "v_obs_point.shp",
            "v_obs_point.shx",
            "v_obs_polygon.cpg",
            "v_obs_polygon.dbf",
            "v_obs_polygon.prj",
            "v_obs_polygon.shp",
            "v_obs_polygon.shx",
        ]
    );
    archive.extract(dir.path().join("x")).unwrap();
    let points = shapefile::read(dir.path().join("x/v_obs_point.shp")).unwrap();
    // rows 1, 3 (NULL geometry, into the first layer) and 5
    assert_eq!(points.len(), 3);
    let (shape, record) = &points[0];
    assert!(matches!(shape, shapefile::Shape::Point(_)));
    match record.get("date_min") {
        Some(dbase::FieldValue::Date(Some(d))) => assert_eq!((d.year(), d.month(), d.day()), (2024, 5, 2)),
        other => panic!("date_min: {other:?}"),
    }
    match record.get("observateu") {
        Some(dbase::FieldValue::Character(Some(s))) => assert_eq!(s.len(), 254),
        other => panic!("observateu: {other:?}"),
    }
    let polygons = shapefile::read(dir.path().join("x/v_obs_polygon.shp")).unwrap();
    assert_eq!(polygons.len(), 3);
    let vsi = format!("/vsizip/{}", path.display());
    let info = ogrinfo(&vsi);
    assert!(info.contains("Layer name: v_obs_point"), "{info}");
    assert!(info.contains("Layer name: v_obs_polygon"), "{info}");
    assert!(info.contains("date_min: Date"), "{info}");
}

#[test]
fn empty_inputs_give_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    for format in Format::ALL {
        let sub = dir.path().join(format.name());
        std::fs::create_dir_all(&sub).unwrap();
        let (path, summary) = write(format, &layout(GeometryKind::Point), &Options::default(), &[], &sub);
        assert_eq!(summary.rows, 0);
        match format {
            Format::Csv => assert_eq!(
                csv::ReaderBuilder::new()
                    .delimiter(b';')
                    .from_path(&path)
                    .unwrap()
                    .records()
                    .count(),
                0
            ),
            Format::Json => assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).unwrap(),
                serde_json::json!([])
            ),
            Format::Xlsx => {
                use calamine::Reader;
                let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
                assert_eq!(book.worksheet_range("v_obs").unwrap().height(), 1);
            }
            Format::GeoJson | Format::Gpkg | Format::Shp => {
                let p = if format == Format::Shp {
                    format!("/vsizip/{}", path.display())
                } else {
                    path.display().to_string()
                };
                let info = ogrinfo(&p);
                assert!(info.contains("Feature Count: 0"), "{format:?}: {info}");
            }
        }
    }
}

/// The extreme dates the extension can hand over (chrono's range: PostgreSQL's wider one is
/// refused before the writers) never panic a writer: text formats write them, a shapefile (DBF
/// dates are `YYYYMMDD`) refuses them with an error naming the field and the row.
#[test]
fn extreme_dates_are_written_or_refused_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout(GeometryKind::Point);
    let extremes = [
        NaiveDate::MAX,
        NaiveDate::MIN,
        NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
    ];
    for (n, date) in extremes.into_iter().enumerate() {
        let mut rows = rows(2, false);
        rows[1][5] = Value::Date(date);
        rows[1][6] = Value::Timestamp(date.and_hms_micro_opt(23, 59, 59, 999_999).unwrap());
        for format in Format::ALL {
            let path = dir.path().join(format!("{n}.{}", format.extension()));
            let mut writer = create_writer(format, &layout, &Options::default(), &path).unwrap();
            let written = writer.write_rows(&rows).and_then(|()| writer.finish());
            match (format, written) {
                (Format::Shp, Err(e)) => assert!(
                    e.to_string()
                        .contains("field \"date_min\" of row 2: a DBF date holds years 1 to 9999"),
                    "{date}: {e}"
                ),
                (Format::Shp, Ok(_)) => panic!("shp accepted {date}"),
                (_, Ok(summary)) => assert_eq!(summary.rows, 2, "{format:?} {date}"),
                (_, Err(e)) => panic!("{format:?} refused {date}: {e}"),
            }
        }
    }
}
