//! Zipped ESRI shapefile: one layer (`.shp .shx .dbf .prj .cpg`) per geometry type present, field
//! names cut to 10 characters without collisions, dates as DBF dates, text over the DBF limit
//! (254 bytes) truncated with a notice. Shapes are encoded by the `shapefile` crate, records by
//! `dbase`; the `.shp`/`.shx` container is written here because the crate's writer cannot write
//! null shapes nor an empty layer.

use crate::geometry::{self, ShapeLayerKind};
use crate::{text, ExportError, FieldType, Format, Layout, Options, Result, Row, RowWriter, Summary, Value};
use dbase::{FieldName, FieldValue, TableWriter, TableWriterBuilder};
use shapefile::record::EsriShape;
use shapefile::Shape;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

/// Longest DBF character field, in bytes.
const MAX_TEXT_BYTES: usize = 254;
/// Width of the text field holding an ISO 8601 timestamp.
const TIMESTAMP_WIDTH: usize = 32;

fn shp_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::writer(Format::Shp, e)
}

/// DBF field names: ASCII, at most 10 characters, unique ignoring case. Returns the names and
/// one notice per renamed field.
pub(crate) fn dbf_field_names(names: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut taken: Vec<String> = Vec::new();
    let mut notices = Vec::new();
    for name in names {
        let ascii: String = name
            .nfkd()
            .filter(|c| c.is_ascii())
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
            .collect();
        let base: String = if ascii.is_empty() { "field".into() } else { ascii };
        let mut candidate: String = base.chars().take(10).collect();
        let mut n = 1;
        while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
            let suffix = format!("_{n}");
            candidate = base.chars().take(10 - suffix.len()).collect::<String>() + &suffix;
            n += 1;
        }
        if candidate != *name {
            notices.push(format!("shp: field \"{name}\" is named \"{candidate}\""));
        }
        taken.push(candidate);
    }
    (taken, notices)
}

/// The `.shp` + `.shx` pair of one layer.
struct ShapeFiles {
    shp: BufWriter<File>,
    shx: BufWriter<File>,
    shape_type: i32,
    /// Current length of the .shp, in 16-bit words.
    length_words: i64,
    records: i32,
    bbox: Option<[f64; 4]>,
}

impl ShapeFiles {
    const HEADER_BYTES: usize = 100;

    fn create(base: &Path, shape_type: i32) -> Result<Self> {
        let mut shp = BufWriter::with_capacity(1 << 16, File::create(base.with_extension("shp"))?);
        let mut shx = BufWriter::with_capacity(1 << 16, File::create(base.with_extension("shx"))?);
        shp.write_all(&[0u8; Self::HEADER_BYTES])?;
        shx.write_all(&[0u8; Self::HEADER_BYTES])?;
        Ok(ShapeFiles {
            shp,
            shx,
            shape_type,
            length_words: (Self::HEADER_BYTES / 2) as i64,
            records: 0,
            bbox: None,
        })
    }

    fn record_header(&mut self, content_bytes: usize) -> Result<()> {
        self.records += 1;
        let content_words = (content_bytes / 2) as i32;
        self.shx.write_all(&(self.length_words as i32).to_be_bytes())?;
        self.shx.write_all(&content_words.to_be_bytes())?;
        self.shp.write_all(&self.records.to_be_bytes())?;
        self.shp.write_all(&content_words.to_be_bytes())?;
        self.length_words += 4 + content_words as i64;
        if self.length_words > i32::MAX as i64 {
            return Err(shp_error("a .shp file cannot exceed 4 GiB; export to gpkg"));
        }
        Ok(())
    }

    fn write_null(&mut self) -> Result<()> {
        self.record_header(4)?;
        self.shp.write_all(&0i32.to_le_bytes())?;
        Ok(())
    }

    fn write<S: EsriShape>(&mut self, shape: &S) -> Result<()> {
        self.record_header(4 + shape.size_in_bytes())?;
        self.shp.write_all(&self.shape_type.to_le_bytes())?;
        shape.write_to(&mut self.shp).map_err(shp_error)?;
        let [x0, x1] = shape.x_range();
        let [y0, y1] = shape.y_range();
        self.bbox = Some(match self.bbox {
            None => [x0, y0, x1, y1],
            Some([a, b, c, d]) => [a.min(x0), b.min(y0), c.max(x1), d.max(y1)],
        });
        Ok(())
    }

    fn header(&self, length_words: i64) -> [u8; 100] {
        let mut h = [0u8; 100];
        h[0..4].copy_from_slice(&9994i32.to_be_bytes());
        h[24..28].copy_from_slice(&(length_words as i32).to_be_bytes());
        h[28..32].copy_from_slice(&1000i32.to_le_bytes());
        h[32..36].copy_from_slice(&self.shape_type.to_le_bytes());
        let bbox = self.bbox.unwrap_or([0.0; 4]);
        for (i, v) in bbox.iter().enumerate() {
            h[36 + 8 * i..44 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        h
    }

    fn finish(mut self) -> Result<()> {
        let shp_header = self.header(self.length_words);
        let shx_header = self.header(50 + 4 * self.records as i64);
        self.shp.seek(SeekFrom::Start(0))?;
        self.shp.write_all(&shp_header)?;
        self.shp.flush()?;
        self.shx.seek(SeekFrom::Start(0))?;
        self.shx.write_all(&shx_header)?;
        self.shx.flush()?;
        Ok(())
    }
}

struct Layer {
    base: PathBuf,
    shapes: ShapeFiles,
    table: TableWriter<BufWriter<File>>,
}

/// One DBF record, written field by field.
struct Record<'a>(&'a [FieldValue]);

impl dbase::WritableRecord for Record<'_> {
    fn write_using<W: Write>(
        &self,
        field_writer: &mut dbase::FieldWriter<'_, W>,
    ) -> std::result::Result<(), dbase::FieldIOError> {
        for value in self.0 {
            field_writer.write_next_field_value(value)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Column {
    Logical,
    Integer,
    Real,
    Text(usize),
    Date,
    /// Timestamps: DBF has no date-time type, so ISO 8601 text.
    Timestamp,
    /// Row number, when the layout has no attribute at all (a DBF needs one field).
    RowNumber,
}

pub(crate) struct ShpWriter {
    dir: PathBuf,
    zip_path: PathBuf,
    base_name: String,
    single_layer: bool,
    geometry: usize,
    names: Vec<String>,
    columns: Vec<(usize, Column)>,
    layers: BTreeMap<ShapeLayerKind, Layer>,
    /// Layer that takes rows with a NULL geometry.
    null_layer: Option<ShapeLayerKind>,
    prj: Option<String>,
    notices: Vec<String>,
    truncated: BTreeMap<String, u64>,
    rows: u64,
    values: Vec<FieldValue>,
    scratch: String,
}

impl ShpWriter {
    pub(crate) fn create(layout: &Layout, options: &Options, path: &Path) -> Result<Self> {
        let geometry = layout
            .geometry
            .ok_or_else(|| ExportError::Unsupported("shp needs a geometry column".into()))?;
        let plan = options.shp.clone().unwrap_or_default();
        let mut planned = plan.layers.clone();
        if planned.is_empty() {
            if let Some(kind) = layout.geometry_kind.shape_layer() {
                planned.push(kind);
            }
        }
        let attributes: Vec<usize> = (0..layout.fields.len()).filter(|i| *i != geometry).collect();
        let (names, mut notices) = dbf_field_names(
            &attributes
                .iter()
                .map(|i| layout.fields[*i].name.as_str())
                .collect::<Vec<_>>(),
        );
        let mut columns: Vec<(usize, Column)> = attributes
            .iter()
            .map(|&i| {
                let width = plan.text_widths.get(i).copied().flatten();
                let column = match layout.fields[i].ty {
                    FieldType::Bool => Column::Logical,
                    FieldType::Int => Column::Integer,
                    FieldType::Float | FieldType::Numeric => Column::Real,
                    FieldType::Date => Column::Date,
                    FieldType::Timestamp | FieldType::TimestampTz => Column::Timestamp,
                    FieldType::Text | FieldType::Json | FieldType::Geometry => {
                        Column::Text(width.unwrap_or(MAX_TEXT_BYTES).clamp(1, MAX_TEXT_BYTES))
                    }
                };
                (i, column)
            })
            .collect();
        let mut names = names;
        if columns.is_empty() {
            columns.push((usize::MAX, Column::RowNumber));
            names.push("id".to_string());
            notices.push("shp: the view has no attribute column; field \"id\" numbers the rows".into());
        }
        let dir = PathBuf::from(format!("{}.parts", path.display()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let mut writer = ShpWriter {
            dir,
            zip_path: path.to_path_buf(),
            base_name: crate::sanitize_file_stem(&layout.name),
            single_layer: planned.len() <= 1,
            geometry,
            names,
            columns,
            layers: BTreeMap::new(),
            null_layer: planned.first().copied(),
            prj: layout.srs_wkt.clone(),
            notices,
            truncated: BTreeMap::new(),
            rows: 0,
            values: Vec::new(),
            scratch: String::new(),
        };
        for kind in planned {
            writer.layer(kind)?;
        }
        Ok(writer)
    }

    fn layer(&mut self, kind: ShapeLayerKind) -> Result<&mut Layer> {
        if !self.layers.contains_key(&kind) {
            let stem = if self.single_layer && self.layers.is_empty() {
                self.base_name.clone()
            } else {
                format!("{}_{}", self.base_name, kind.name())
            };
            let base = self.dir.join(stem);
            let mut builder = TableWriterBuilder::new();
            for ((_, column), name) in self.columns.iter().zip(&self.names) {
                let name = FieldName::try_from(name.as_str()).map_err(shp_error)?;
                builder = match column {
                    Column::Logical => builder.add_logical_field(name),
                    Column::Integer | Column::RowNumber => builder.add_numeric_field(name, 18, 0),
                    Column::Real => builder.add_numeric_field(name, 24, 15),
                    Column::Text(width) => builder.add_character_field(name, *width as u8),
                    Column::Date => builder.add_date_field(name),
                    Column::Timestamp => builder.add_character_field(name, TIMESTAMP_WIDTH as u8),
                };
            }
            let table = builder
                .build_with_file_dest(base.with_extension("dbf"))
                .map_err(shp_error)?;
            let shapes = ShapeFiles::create(&base, kind.shape_type())?;
            self.layers.insert(kind, Layer { base, shapes, table });
            if self.null_layer.is_none() {
                self.null_layer = Some(kind);
            }
        }
        self.layers.get_mut(&kind).ok_or_else(|| shp_error("layer vanished"))
    }

    /// A character value cut to the field width on a character boundary, counted when cut.
    fn text(&mut self, value: &Value, width: usize, field: usize) -> Result<FieldValue> {
        self.scratch.clear();
        text::cell_text(value, &mut self.scratch)?;
        if self.scratch.len() > width {
            let mut cut = width;
            while !self.scratch.is_char_boundary(cut) {
                cut -= 1;
            }
            self.scratch.truncate(cut);
            let name = self
                .columns
                .iter()
                .position(|c| c.0 == field)
                .map_or_else(String::new, |p| self.names[p].clone());
            *self.truncated.entry(name).or_default() += 1;
        }
        Ok(FieldValue::Character(Some(self.scratch.clone())))
    }

    fn record(&mut self, row: &Row) -> Result<()> {
        self.values.clear();
        for k in 0..self.columns.len() {
            let (i, column) = self.columns[k];
            let number;
            let value = if i == usize::MAX {
                number = Value::Int(self.rows as i64 + 1);
                &number
            } else {
                &row[i]
            };
            let field = match (column, value) {
                (Column::Logical, Value::Bool(b)) => FieldValue::Logical(Some(*b)),
                (Column::Logical, _) => FieldValue::Logical(None),
                (Column::Integer | Column::RowNumber, Value::Int(v)) => FieldValue::Numeric(Some(*v as f64)),
                (Column::Integer | Column::RowNumber, _) => FieldValue::Numeric(None),
                (Column::Real, Value::Float(f)) if f.is_finite() => FieldValue::Numeric(Some(*f)),
                (Column::Real, Value::Numeric(s)) => FieldValue::Numeric(text::finite_number(s)),
                (Column::Real, _) => FieldValue::Numeric(None),
                (Column::Date, Value::Date(d)) => {
                    use chrono::Datelike;
                    // A DBF date is `YYYYMMDD`; dbase::Date::new panics on a fifth digit.
                    if !(1..=9999).contains(&d.year()) {
                        return Err(ExportError::Unsupported(format!(
                            "shp: field \"{}\" of row {}: a DBF date holds years 1 to 9999, not {d}",
                            self.names[k],
                            self.rows + 1
                        )));
                    }
                    FieldValue::Date(Some(dbase::Date::new(d.day(), d.month(), d.year() as u32)))
                }
                (Column::Date, _) => FieldValue::Date(None),
                (_, Value::Null) => FieldValue::Character(None),
                (Column::Text(width), v) => self.text(v, width, i)?,
                (Column::Timestamp, v) => self.text(v, TIMESTAMP_WIDTH, i)?,
            };
            self.values.push(field);
        }
        Ok(())
    }
}

impl RowWriter for ShpWriter {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        for row in rows {
            self.record(row)?;
            let values = std::mem::take(&mut self.values);
            let shape = match &row[self.geometry] {
                Value::Geometry(wkb) => {
                    let kind = geometry::wkb_kind(wkb)?;
                    let layer_kind = kind.shape_layer().ok_or_else(|| {
                        ExportError::Unsupported(format!(
                            "a shapefile cannot hold a {} (row {})",
                            kind.gpkg_name(),
                            self.rows + 1
                        ))
                    })?;
                    let geo = geometry::to_geo(wkb)?;
                    Some((layer_kind, Shape::try_from(geo).map_err(shp_error)?))
                }
                _ => None,
            };
            let kind = match &shape {
                Some((k, _)) => *k,
                None => self.null_layer.unwrap_or(ShapeLayerKind::Point),
            };
            let layer = self.layer(kind)?;
            match shape {
                None => layer.shapes.write_null()?,
                Some((_, Shape::Point(p))) => layer.shapes.write(&p)?,
                Some((_, Shape::Polyline(p))) => layer.shapes.write(&p)?,
                Some((_, Shape::Polygon(p))) => layer.shapes.write(&p)?,
                Some((_, Shape::Multipoint(p))) => layer.shapes.write(&p)?,
                Some((_, other)) => return Err(ExportError::Unsupported(format!("unexpected shape {other}"))),
            }
            layer.table.write_record(&Record(&values)).map_err(shp_error)?;
            self.values = values;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Summary> {
        let mut this = *self;
        let mut parts = Vec::new();
        for (_, layer) in std::mem::take(&mut this.layers) {
            let Layer {
                base,
                shapes,
                mut table,
            } = layer;
            shapes.finish()?;
            table.finalize().map_err(shp_error)?;
            drop(table);
            std::fs::write(base.with_extension("cpg"), "UTF-8")?;
            let mut exts = vec!["shp", "shx", "dbf", "cpg"];
            if let Some(prj) = &this.prj {
                std::fs::write(base.with_extension("prj"), prj)?;
                exts.push("prj");
            }
            for ext in exts {
                parts.push(base.with_extension(ext));
            }
        }
        let file = File::create(&this.zip_path)?;
        let mut zip = zip::ZipWriter::new(BufWriter::new(file));
        for part in &parts {
            let size = std::fs::metadata(part)?.len();
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(size >= u32::MAX as u64);
            let name = part
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            zip.start_file(name, options).map_err(shp_error)?;
            std::io::copy(&mut File::open(part)?, &mut zip)?;
        }
        zip.finish().map_err(shp_error)?.flush()?;
        for (field, count) in &this.truncated {
            this.notices.push(format!(
                "shp: {count} value(s) of field \"{field}\" were longer than {MAX_TEXT_BYTES} bytes and were truncated"
            ));
        }
        let _ = std::fs::remove_dir_all(&this.dir);
        Ok(Summary {
            rows: this.rows,
            notices: std::mem::take(&mut this.notices),
        })
    }
}

impl Drop for ShpWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::dbf_field_names;

    #[test]
    fn field_names_are_short_and_unique() {
        let (names, notices) = dbf_field_names(&["observateurs", "observateurs_bis", "Observateur", "id", "nom_cité"]);
        assert_eq!(names, ["observateu", "observat_1", "Observat_2", "id", "nom_cite"]);
        assert_eq!(notices.len(), 4);
    }
}
