//! GeoPackage 1.2 (OGC 12-128r15) feature table: one layer named after the view, `fid` primary
//! key, typed columns (INTEGER, REAL, TEXT, BOOLEAN, DATE, DATETIME), SRS from
//! `spatial_ref_sys`, extent in `gpkg_contents`, and (by default, as GDAL does) the R-tree spatial
//! index of the `gpkg_rtree_index` extension with its triggers. Written by SQLite in one
//! transaction.

use crate::geometry::{self, Envelope};
use crate::{text, ExportError, FieldType, Format, Layout, Result, Row, RowWriter, Summary, Value};
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, Connection};
use std::path::Path;

pub(crate) struct GpkgWriter {
    conn: Connection,
    insert_sql: String,
    /// The R-tree spatial index being filled (GeoPackage extension `gpkg_rtree_index`).
    rtree: Option<Rtree>,
    table: String,
    srid: i32,
    extent: Option<Envelope>,
    rows: u64,
    scratch: String,
}

struct Rtree {
    insert_sql: String,
    /// The triggers that keep the index right when the file is edited later (QGIS, GDAL); they
    /// call GeoPackage SQL functions plain SQLite lacks, so they are created after the load.
    triggers: String,
}

impl Rtree {
    fn new(table: &str, fid: &str, geom: &str) -> Rtree {
        let rtree = quoted(&format!("rtree_{table}_{geom}"));
        let name = |suffix: &str| quoted(&format!("rtree_{table}_{geom}_{suffix}"));
        let (t, f, g) = (quoted(table), quoted(fid), quoted(geom));
        let bbox = |row: &str| {
            format!("{row}.{f}, ST_MinX({row}.{g}), ST_MaxX({row}.{g}), ST_MinY({row}.{g}), ST_MaxY({row}.{g})")
        };
        let present = |row: &str| format!("{row}.{g} NOT NULL AND NOT ST_IsEmpty({row}.{g})");
        let absent = |row: &str| format!("({row}.{g} IS NULL OR ST_IsEmpty({row}.{g}))");
        let triggers = [
            format!(
                "CREATE TRIGGER {} AFTER INSERT ON {t} WHEN ({}) BEGIN INSERT OR REPLACE INTO {rtree} VALUES ({}); END;",
                name("insert"),
                present("NEW"),
                bbox("NEW")
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE OF {g} ON {t} WHEN OLD.{f} = NEW.{f} AND ({}) BEGIN INSERT OR REPLACE INTO {rtree} VALUES ({}); END;",
                name("update1"),
                present("NEW"),
                bbox("NEW")
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE OF {g} ON {t} WHEN OLD.{f} = NEW.{f} AND {} BEGIN DELETE FROM {rtree} WHERE id = OLD.{f}; END;",
                name("update2"),
                absent("NEW")
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE ON {t} WHEN OLD.{f} != NEW.{f} AND ({}) BEGIN DELETE FROM {rtree} WHERE id = OLD.{f}; INSERT OR REPLACE INTO {rtree} VALUES ({}); END;",
                name("update3"),
                present("NEW"),
                bbox("NEW")
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE ON {t} WHEN OLD.{f} != NEW.{f} AND {} BEGIN DELETE FROM {rtree} WHERE id IN (OLD.{f}, NEW.{f}); END;",
                name("update4"),
                absent("NEW")
            ),
            format!(
                "CREATE TRIGGER {} AFTER DELETE ON {t} WHEN OLD.{g} NOT NULL BEGIN DELETE FROM {rtree} WHERE id = OLD.{f}; END;",
                name("delete")
            ),
        ]
        .join("\n");
        Rtree {
            insert_sql: format!("INSERT INTO {rtree} VALUES (?1, ?2, ?3, ?4, ?5)"),
            triggers,
        }
    }
}

fn gpkg_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::writer(Format::Gpkg, e)
}

/// SQLite identifier quoting.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Bool => "BOOLEAN",
        FieldType::Int => "INTEGER",
        FieldType::Float | FieldType::Numeric => "REAL",
        FieldType::Text | FieldType::Json => "TEXT",
        FieldType::Date => "DATE",
        FieldType::Timestamp | FieldType::TimestampTz => "DATETIME",
        FieldType::Geometry => "GEOMETRY",
    }
}

impl GpkgWriter {
    pub(crate) fn create(layout: &Layout, path: &Path, spatial_index: bool) -> Result<Self> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        let conn = Connection::open(path).map_err(gpkg_error)?;
        let srid = layout.srid.unwrap_or(0);
        let geometry = layout
            .geometry_field()
            .ok_or_else(|| ExportError::Unsupported("gpkg needs a geometry column".into()))?;
        let used: Vec<String> = layout.fields.iter().map(|f| f.name.to_ascii_lowercase()).collect();
        let fid = ["fid", "ogc_fid", "gpkg_fid"]
            .into_iter()
            .find(|n| !used.iter().any(|u| u == n))
            .unwrap_or("gn_flux_fid");
        let table = layout.name.clone();
        let mut columns = vec![format!("{} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL", quoted(fid))];
        for f in &layout.fields {
            let ty = if f.ty == FieldType::Geometry {
                layout.geometry_kind.gpkg_name()
            } else {
                column_type(f.ty)
            };
            columns.push(format!("{} {ty}", quoted(&f.name)));
        }
        let (org, org_id) = layout
            .srs_authority
            .clone()
            .unwrap_or_else(|| ("NONE".to_string(), srid));
        let definition = layout.srs_wkt.clone().unwrap_or_else(|| "undefined".to_string());
        conn.execute_batch(
            "PRAGMA application_id = 1196444487;
             PRAGMA user_version = 10200;
             PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             BEGIN;
             CREATE TABLE gpkg_spatial_ref_sys (
               srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
               organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
             CREATE TABLE gpkg_contents (
               table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
               identifier TEXT UNIQUE, description TEXT DEFAULT '',
               last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
               min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
               CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
             CREATE TABLE gpkg_geometry_columns (
               table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
               srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
               CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
               CONSTRAINT uk_gc_table_name UNIQUE (table_name),
               CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
               CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
             INSERT INTO gpkg_spatial_ref_sys VALUES
               ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
               ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');",
        )
        .map_err(gpkg_error)?;
        if srid > 0 {
            conn.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![format!("{org}:{org_id}"), srid, org, org_id, definition],
            )
            .map_err(gpkg_error)?;
        }
        if srid != 4326 {
            conn.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326,
                 'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]]',
                 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')",
                [],
            )
            .map_err(gpkg_error)?;
        }
        conn.execute_batch(&format!("CREATE TABLE {} ({});", quoted(&table), columns.join(", ")))
            .map_err(gpkg_error)?;
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES (?1, 'features', ?1, ?2)",
            params![table, srid],
        )
        .map_err(gpkg_error)?;
        conn.execute(
            "INSERT INTO gpkg_geometry_columns VALUES (?1, ?2, ?3, ?4, 0, 0)",
            params![table, geometry.name, layout.geometry_kind.gpkg_name(), srid],
        )
        .map_err(gpkg_error)?;
        let rtree = if spatial_index {
            let rtree = Rtree::new(&table, fid, &geometry.name);
            conn.execute_batch(&format!(
                "CREATE TABLE gpkg_extensions (
                   table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
                   definition TEXT NOT NULL, scope TEXT NOT NULL,
                   CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
                 CREATE VIRTUAL TABLE {} USING rtree(id, minx, maxx, miny, maxy);",
                quoted(&format!("rtree_{table}_{}", geometry.name))
            ))
            .map_err(gpkg_error)?;
            conn.execute(
                "INSERT INTO gpkg_extensions VALUES (?1, ?2, 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                params![table, geometry.name],
            )
            .map_err(gpkg_error)?;
            Some(rtree)
        } else {
            None
        };
        let insert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quoted(&table),
            layout
                .fields
                .iter()
                .map(|f| quoted(&f.name))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=layout.fields.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(GpkgWriter {
            conn,
            insert_sql,
            rtree,
            table,
            srid,
            extent: None,
            rows: 0,
            scratch: String::new(),
        })
    }
}

impl RowWriter for GpkgWriter {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(&self.insert_sql).map_err(gpkg_error)?;
        let mut index = match &self.rtree {
            Some(r) => Some(self.conn.prepare_cached(&r.insert_sql).map_err(gpkg_error)?),
            None => None,
        };
        for row in rows {
            let mut bbox = None;
            for (i, value) in row.iter().enumerate() {
                let out: ToSqlOutput = match value {
                    Value::Null => ToSqlOutput::from(rusqlite::types::Null),
                    Value::Bool(b) => ToSqlOutput::from(*b),
                    Value::Int(v) => ToSqlOutput::from(*v),
                    Value::Float(f) => ToSqlOutput::from(*f),
                    Value::Numeric(s) => match text::finite_number(s) {
                        Some(f) => ToSqlOutput::from(f),
                        None => ToSqlOutput::from(rusqlite::types::Null),
                    },
                    Value::Text(s) | Value::Json(s) => ToSqlOutput::from(s.as_str()),
                    Value::Geometry(wkb) => {
                        let (blob, envelope) = geometry::to_gpkg(wkb, Some(self.srid))?;
                        if let Some(e) = envelope {
                            self.extent = Some(self.extent.map_or(e, |x| x.merge(e)));
                        }
                        bbox = envelope;
                        ToSqlOutput::from(blob)
                    }
                    Value::TimestampTz(ts) => {
                        self.scratch.clear();
                        self.scratch.push_str(&ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
                        ToSqlOutput::from(self.scratch.clone())
                    }
                    other => {
                        self.scratch.clear();
                        text::cell_text(other, &mut self.scratch)?;
                        ToSqlOutput::from(self.scratch.clone())
                    }
                };
                stmt.raw_bind_parameter(i + 1, out).map_err(gpkg_error)?;
            }
            stmt.raw_execute().map_err(gpkg_error)?;
            if let (Some(index), Some(e)) = (index.as_mut(), bbox) {
                let fid = self.conn.last_insert_rowid();
                index
                    .execute(params![fid, e.min_x, e.max_x, e.min_y, e.max_y])
                    .map_err(gpkg_error)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Summary> {
        let this = *self;
        if let Some(e) = this.extent {
            this.conn
                .execute(
                    "UPDATE gpkg_contents SET min_x = ?1, min_y = ?2, max_x = ?3, max_y = ?4 WHERE table_name = ?5",
                    params![e.min_x, e.min_y, e.max_x, e.max_y, this.table],
                )
                .map_err(gpkg_error)?;
        }
        if let Some(rtree) = &this.rtree {
            this.conn.execute_batch(&rtree.triggers).map_err(gpkg_error)?;
        }
        this.conn.execute_batch("COMMIT;").map_err(gpkg_error)?;
        this.conn.close().map_err(|(_, e)| gpkg_error(e))?;
        Ok(Summary {
            rows: this.rows,
            notices: Vec::new(),
        })
    }
}
