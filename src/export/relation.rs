//! The relation behind an export: existence, the caller's privileges, its columns and how each
//! one is read (PostgreSQL type → writer field type), its geometry column and SRID.
//!
//! These queries run under the caller's search_path (export_view, export_to_file): every catalog
//! function, relation, type and operator in them is written `pg_catalog.`, so no schema earlier in
//! that path can stand in for one.

use crate::error::{GnFluxError, Kind};
use gn_export::{FieldType, GeometryKind};
use gn_protocol::filter_sql::{quote_ident, ColumnInfo};
use gn_protocol::query::ColumnKind;
use pgrx::prelude::*;

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type()` of the column.
    pub sql_type: String,
    pub kind: ColumnKind,
    /// How the writers see it (`Geometry` only for PostGIS geometry columns).
    pub field: FieldType,
    /// Arrays are written as JSON.
    pub is_array: bool,
    /// For geometry columns: typmod SRID (0 when unconstrained) and type name.
    pub srid: i32,
    pub geometry_type: String,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    pub oid: pg_sys::Oid,
    /// `"schema"."name"`, quoted.
    pub qualified: String,
    pub columns: Vec<Column>,
    /// `schema.` prefix of PostGIS functions, when PostGIS is installed.
    pub postgis: Option<String>,
    pub is_table: bool,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_infos(&self) -> Vec<ColumnInfo> {
        self.columns
            .iter()
            .map(|c| ColumnInfo {
                name: c.name.clone(),
                kind: c.kind,
                sql_type: c.sql_type.clone(),
            })
            .collect()
    }

    pub fn geometry_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.field == FieldType::Geometry)
    }

    pub fn postgis(&self) -> Result<&str, GnFluxError> {
        self.postgis.as_deref().ok_or_else(crate::spi::postgis_missing)
    }

    /// SRID of a geometry column: its typmod, else the SRID of its first non-NULL value, else 0.
    pub fn geometry_srid(&self, column: &Column) -> Result<i32, GnFluxError> {
        if column.srid > 0 {
            return Ok(column.srid);
        }
        let postgis = self.postgis()?;
        let ident = quote(&column.name)?;
        let sql = format!(
            "SELECT {postgis}ST_SRID({ident}) FROM {} WHERE {ident} IS NOT NULL LIMIT 1",
            self.qualified
        );
        Ok(first_value::<i32>(&sql, &[])?.unwrap_or(0))
    }

    pub fn geometry_kind(column: &Column) -> GeometryKind {
        GeometryKind::from_name(&column.geometry_type)
    }
}

/// The first column of the first row, `None` when there is no row or it is NULL.
fn first_value<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> Result<Option<T>, GnFluxError> {
    Spi::connect(|c| -> Result<Option<T>, GnFluxError> {
        let table = c.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get_one::<T>()?)
    })
}

pub fn quote(name: &str) -> Result<String, GnFluxError> {
    quote_ident(name).ok_or_else(|| {
        GnFluxError::invalid(
            "identifier contains a NUL character",
            "Give the name as it appears in pg_class / pg_attribute.",
        )
    })
}

fn display(schema: &str, name: &str) -> String {
    format!(
        "{}.{}",
        quote_ident(schema).unwrap_or_default(),
        quote_ident(name).unwrap_or_default()
    )
}

/// Finds `schema.name` (table, view, materialized view, foreign or partitioned table) and checks
/// that the calling role may read it.
pub fn resolve(schema: Option<&str>, name: Option<&str>) -> Result<Relation, GnFluxError> {
    let schema = schema.filter(|s| !s.is_empty()).ok_or_else(|| {
        GnFluxError::invalid(
            "schema_name must not be NULL or empty",
            "Give the schema of the view, e.g. 'gn_exports'.",
        )
    })?;
    let name = name.filter(|s| !s.is_empty()).ok_or_else(|| {
        GnFluxError::invalid(
            "view_name must not be NULL or empty",
            "Give the name of a view or table, e.g. 'v_synthese_sinp'.",
        )
    })?;
    let shown = display(schema, name);
    let found = Spi::connect(|c| -> Result<Option<(pg_sys::Oid, String, bool, bool)>, GnFluxError> {
        let mut rows = c.select(
            "SELECT c.oid, c.relkind::pg_catalog.text,
                    pg_catalog.has_schema_privilege(current_user, n.oid, 'USAGE'),
                    pg_catalog.has_table_privilege(current_user, c.oid, 'SELECT')
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              WHERE n.nspname OPERATOR(pg_catalog.=) $1
                AND c.relname OPERATOR(pg_catalog.=) $2
                AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,f,p}'::pg_catalog.\"char\"[])",
            Some(1),
            &[schema.into(), name.into()],
        )?;
        let Some(r) = rows.next() else { return Ok(None) };
        let oid: pg_sys::Oid = r.get(1)?.unwrap_or(pg_sys::InvalidOid);
        let relkind: String = r.get(2)?.unwrap_or_default();
        let usage: bool = r.get(3)?.unwrap_or(false);
        let select: bool = r.get(4)?.unwrap_or(false);
        let is_table = relkind == "r" || relkind == "p";
        Ok(Some((oid, relkind, usage && select, is_table)))
    })?;
    let Some((oid, _relkind, readable, is_table)) = found else {
        return Err(GnFluxError::new(
            Kind::UndefinedTable,
            format!("relation {shown} does not exist"),
            "Check the schema and view names (case matters: they are identifiers, not patterns); see \\dv in psql.",
        ));
    };
    if !readable {
        return Err(GnFluxError::new(
            Kind::InsufficientPrivilege,
            format!("permission denied for relation {shown}"),
            format!(
                "An owner or superuser can run: GRANT USAGE ON SCHEMA {} TO <role>; GRANT SELECT ON {shown} TO <role>;",
                quote_ident(schema).unwrap_or_default()
            ),
        ));
    }
    // As a prefix of function names: `schema.`.
    let postgis = crate::spi::postgis_schema()?.map(|p| p + ".");
    let typmod_sql = match &postgis {
        Some(p) => format!(
            "CASE WHEN t.typname OPERATOR(pg_catalog.=) 'geometry' AND a.atttypmod OPERATOR(pg_catalog.>=) 0
                  THEN {p}postgis_typmod_srid(a.atttypmod) ELSE 0 END,
             CASE WHEN t.typname OPERATOR(pg_catalog.=) 'geometry' AND a.atttypmod OPERATOR(pg_catalog.>=) 0
                  THEN {p}postgis_typmod_type(a.atttypmod) ELSE '' END"
        ),
        None => "0, ''".to_string(),
    };
    let columns = Spi::connect(|c| -> Result<Vec<Column>, GnFluxError> {
        let sql = format!(
            "SELECT a.attname::pg_catalog.text, t.typname::pg_catalog.text,
                    pg_catalog.format_type(a.atttypid, a.atttypmod),
                    t.typcategory::pg_catalog.text, {typmod_sql}
               FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
              WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
              ORDER BY a.attnum"
        );
        let mut out = Vec::new();
        for r in c.select(&sql, None, &[oid.into()])? {
            let name: String = r.get(1)?.unwrap_or_default();
            let typname: String = r.get(2)?.unwrap_or_default();
            let sql_type: String = r.get(3)?.unwrap_or_default();
            let category: String = r.get(4)?.unwrap_or_default();
            let srid: i32 = r.get(5)?.unwrap_or(0);
            let geometry_type: String = r.get(6)?.unwrap_or_default();
            let is_array = category == "A";
            let (kind, field) = if is_array {
                (ColumnKind::Json, FieldType::Json)
            } else {
                match typname.as_str() {
                    "int2" | "int4" => (ColumnKind::Integer, FieldType::Int),
                    "int8" => (ColumnKind::BigInt, FieldType::Int),
                    "float4" | "float8" => (ColumnKind::Float, FieldType::Float),
                    "numeric" => (ColumnKind::Numeric, FieldType::Numeric),
                    "bool" => (ColumnKind::Boolean, FieldType::Bool),
                    "date" => (ColumnKind::Date, FieldType::Date),
                    "timestamp" => (ColumnKind::Timestamp, FieldType::Timestamp),
                    "timestamptz" => (ColumnKind::Timestamp, FieldType::TimestampTz),
                    "uuid" => (ColumnKind::Uuid, FieldType::Text),
                    "json" | "jsonb" => (ColumnKind::Json, FieldType::Json),
                    "text" => (ColumnKind::Text, FieldType::Text),
                    "geometry" if postgis.is_some() => (ColumnKind::Geometry, FieldType::Geometry),
                    "geography" if postgis.is_some() => (ColumnKind::Geometry, FieldType::Text),
                    _ => (ColumnKind::Varchar, FieldType::Text),
                }
            };
            out.push(Column {
                name,
                sql_type,
                kind,
                field,
                is_array,
                srid,
                geometry_type: if geometry_type.is_empty() {
                    "GEOMETRY".into()
                } else {
                    geometry_type
                },
            });
        }
        Ok(out)
    })?;
    if columns.is_empty() {
        return Err(GnFluxError::invalid(
            format!("relation {shown} has no column"),
            "Export a view or table with at least one column.",
        ));
    }
    Ok(Relation {
        schema: schema.to_string(),
        name: name.to_string(),
        oid,
        qualified: format!("{}.{}", quote(schema)?, quote(name)?),
        columns,
        postgis,
        is_table,
    })
}

/// The column that identifies rows: a single-column primary key of a table, else `id_synthese`,
/// else the first `id`/`id_*` column, else the first column (what GeoNature back-filled).
pub fn detect_pk(rel: &Relation) -> Result<String, GnFluxError> {
    if rel.is_table {
        let pk: Option<String> = first_value(
            "SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
              WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary AND i.indnatts OPERATOR(pg_catalog.=) 1",
            &[rel.oid.into()],
        )?;
        if let Some(pk) = pk {
            return Ok(pk);
        }
    }
    let by_name = rel
        .columns
        .iter()
        .find(|c| c.name == "id_synthese")
        .or_else(|| {
            rel.columns.iter().find(|c| {
                (c.name == "id" || c.name.starts_with("id_"))
                    && matches!(c.kind, ColumnKind::Integer | ColumnKind::BigInt | ColumnKind::Uuid)
            })
        })
        .unwrap_or(&rel.columns[0]);
    Ok(by_name.name.clone())
}
