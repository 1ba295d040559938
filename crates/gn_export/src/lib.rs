//! File writers of gn_flux exports, without PostgreSQL: the extension reads rows through a cursor
//! and hands them here in batches, already typed ([`Value`]); each writer streams them to a file.
//!
//! Formats: csv (as GeoNature's Export module writes it), json, geojson (RFC 7946), gpkg
//! (GeoPackage 1.2), shp (zipped shapefile, one layer per geometry type) and xlsx (constant memory).
//! Geometries arrive as EWKB and are re-encoded with geozero.

mod csv_out;
mod geometry;
mod gpkg;
mod json_out;
pub mod pg_time;
pub mod safe_fs;
mod shp;
mod text;
mod xlsx;

use chrono::{NaiveDate, NaiveDateTime};
use std::path::Path;

pub use geometry::{GeometryKind, ShapeLayerKind};
pub use text::sanitize_file_stem;

/// Output formats, named as in `gn_flux.export_view(…, format)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    GeoJson,
    Gpkg,
    Shp,
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Csv,
        Format::Json,
        Format::GeoJson,
        Format::Gpkg,
        Format::Shp,
        Format::Xlsx,
    ];

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::GeoJson => "geojson",
            Format::Gpkg => "gpkg",
            Format::Shp => "shp",
            Format::Xlsx => "xlsx",
        }
    }

    /// File name extension of the produced file (a shapefile comes zipped).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Shp => "zip",
            f => f.name(),
        }
    }

    /// Formats that cannot be written without a geometry column.
    pub fn needs_geometry(self) -> bool {
        matches!(self, Format::GeoJson | Format::Gpkg | Format::Shp)
    }

    pub fn names() -> String {
        Format::ALL.map(Format::name).join(", ")
    }
}

/// The type of a column as the writers see it (the extension maps PostgreSQL types onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Float,
    /// `numeric`: exact decimal text, written as a number where the format has numbers.
    Numeric,
    Text,
    /// json/jsonb text: embedded as JSON in json/geojson, text elsewhere.
    Json,
    Date,
    /// `timestamp without time zone`.
    Timestamp,
    /// `timestamp with time zone`, delivered in UTC.
    TimestampTz,
    /// The export's geometry, EWKB.
    Geometry,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Field { name: name.into(), ty }
    }
}

/// One cell. Geometries are EWKB (with or without an SRID).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Numeric(String),
    Text(String),
    Json(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    /// UTC.
    TimestampTz(NaiveDateTime),
    Geometry(Vec<u8>),
}

pub type Row = Vec<Value>;

/// What the writers need to know about the relation being exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Layer / table / sheet base name (the view's name).
    pub name: String,
    pub fields: Vec<Field>,
    /// Index of the geometry column in `fields` (at most one column has [`FieldType::Geometry`]).
    pub geometry: Option<usize>,
    /// SRID of the geometries as delivered (after any reprojection).
    pub srid: Option<i32>,
    /// OGC WKT of that SRID (`spatial_ref_sys.srtext`), for `.prj` and GeoPackage.
    pub srs_wkt: Option<String>,
    /// Authority of that SRID, e.g. ("EPSG", 2154).
    pub srs_authority: Option<(String, i32)>,
    /// Declared geometry type of the column (`Unknown` for plain `geometry`).
    pub geometry_kind: GeometryKind,
    /// Index of the primary-key column: GeoJSON feature `id`.
    pub pk: Option<usize>,
}

impl Layout {
    pub fn geometry_field(&self) -> Option<&Field> {
        self.geometry.map(|i| &self.fields[i])
    }
}

/// Format options set by the caller (settings in the extension).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// CSV field separator (GeoNature: `;`).
    pub csv_separator: u8,
    /// Shapefile plan: the layers to create (one per geometry type present) and the byte width of
    /// each text field; computed by the caller from the data before writing.
    pub shp: Option<ShpPlan>,
    /// XLSX data rows per sheet before continuing on a new sheet (Excel's limit minus the header).
    pub xlsx_rows_per_sheet: u32,
    /// Build the GeoPackage R-tree spatial index (GDAL's default too).
    pub gpkg_spatial_index: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            csv_separator: b';',
            shp: None,
            xlsx_rows_per_sheet: xlsx::MAX_DATA_ROWS,
            gpkg_spatial_index: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShpPlan {
    /// Shapefile layer kinds present in the data, in a stable order.
    pub layers: Vec<ShapeLayerKind>,
    /// Per field (same index as `Layout::fields`): the largest text value in bytes, if known.
    pub text_widths: Vec<Option<usize>>,
}

/// What a finished writer reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub rows: u64,
    /// Things the user should hear about (truncated values, renamed fields…), one line each.
    pub notices: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("geometry error: {0}")]
    Geometry(String),
    #[error("{format} writer: {message}")]
    Writer { format: &'static str, message: String },
    #[error("{0}")]
    Unsupported(String),
}

impl ExportError {
    pub(crate) fn writer(format: Format, e: impl std::fmt::Display) -> Self {
        ExportError::Writer {
            format: format.name(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// A streaming writer: rows in batches, then `finish` (which flushes and closes the file).
pub trait RowWriter: Send {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<Summary>;
}

/// Creates the writer of `format` writing to `path` (created or truncated).
pub fn create_writer(format: Format, layout: &Layout, options: &Options, path: &Path) -> Result<Box<dyn RowWriter>> {
    if format.needs_geometry() && layout.geometry.is_none() {
        return Err(ExportError::Unsupported(format!(
            "format {} needs a geometry column",
            format.name()
        )));
    }
    Ok(match format {
        Format::Csv => Box::new(csv_out::CsvWriter::create(layout, options, path)?),
        Format::Json => Box::new(json_out::JsonWriter::create(layout, path, false)?),
        Format::GeoJson => Box::new(json_out::JsonWriter::create(layout, path, true)?),
        Format::Gpkg => Box::new(gpkg::GpkgWriter::create(layout, path, options.gpkg_spatial_index)?),
        Format::Shp => Box::new(shp::ShpWriter::create(layout, options, path)?),
        Format::Xlsx => Box::new(xlsx::XlsxWriter::create(layout, options, path)?),
    })
}

/// Hex SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
