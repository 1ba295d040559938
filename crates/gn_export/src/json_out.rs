//! JSON (an array of objects, geometry as WKT) and GeoJSON (an RFC 7946 FeatureCollection whose
//! feature `id` is the primary key; the caller delivers geometries in EPSG:4326).

use crate::{geometry, text, Layout, Result, Row, RowWriter, Summary, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

pub(crate) struct JsonWriter {
    out: BufWriter<File>,
    /// JSON-escaped `"name": ` prefixes, one per field.
    keys: Vec<Vec<u8>>,
    geometry: Option<usize>,
    pk: Option<usize>,
    feature_collection: bool,
    rows: u64,
    buf: Vec<u8>,
    scratch: String,
}

impl JsonWriter {
    pub(crate) fn create(layout: &Layout, path: &Path, feature_collection: bool) -> Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let keys = layout
            .fields
            .iter()
            .map(|f| {
                let mut k = serde_json::to_vec(&f.name).unwrap_or_default();
                k.extend_from_slice(b": ");
                k
            })
            .collect();
        if feature_collection {
            out.write_all(b"{\"type\": \"FeatureCollection\", \"features\": [")?;
        } else {
            out.write_all(b"[")?;
        }
        Ok(JsonWriter {
            out,
            keys,
            geometry: layout.geometry,
            pk: layout.pk,
            feature_collection,
            rows: 0,
            buf: Vec::with_capacity(4096),
            scratch: String::new(),
        })
    }

    fn value(&mut self, value: &Value) -> Result<()> {
        let buf = &mut self.buf;
        match value {
            Value::Null => buf.extend_from_slice(b"null"),
            Value::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => {
                let _ = write!(buf, "{i}");
            }
            Value::Float(f) if f.is_finite() => {
                self.scratch.clear();
                text::float(&mut self.scratch, *f);
                buf.extend_from_slice(self.scratch.as_bytes());
            }
            Value::Float(_) => buf.extend_from_slice(b"null"),
            Value::Numeric(s) => {
                if text::finite_number(s).is_some() {
                    buf.extend_from_slice(s.as_bytes())
                } else {
                    buf.extend_from_slice(b"null")
                }
            }
            Value::Json(s) => buf.extend_from_slice(s.as_bytes()),
            Value::Text(s) => string(buf, s),
            other => {
                self.scratch.clear();
                text::cell_text(other, &mut self.scratch)?;
                string(buf, &self.scratch);
            }
        }
        Ok(())
    }

    fn properties(&mut self, row: &Row, skip: Option<usize>) -> Result<()> {
        self.buf.push(b'{');
        let mut first = true;
        for (i, value) in row.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            if !first {
                self.buf.extend_from_slice(b", ");
            }
            first = false;
            self.buf.extend_from_slice(&self.keys[i]);
            self.value(value)?;
        }
        self.buf.push(b'}');
        Ok(())
    }

    fn feature(&mut self, row: &Row) -> Result<()> {
        self.buf.extend_from_slice(b"{\"type\": \"Feature\", ");
        if let Some(pk) = self.pk {
            match &row[pk] {
                Value::Null => {}
                Value::Int(i) => {
                    let _ = write!(self.buf, "\"id\": {i}, ");
                }
                other => {
                    self.buf.extend_from_slice(b"\"id\": ");
                    self.scratch.clear();
                    text::cell_text(other, &mut self.scratch)?;
                    string(&mut self.buf, &self.scratch);
                    self.buf.extend_from_slice(b", ");
                }
            }
        }
        self.buf.extend_from_slice(b"\"geometry\": ");
        match self.geometry.map(|g| &row[g]) {
            Some(Value::Geometry(wkb)) => geometry::write_geojson(wkb, &mut self.buf)?,
            _ => self.buf.extend_from_slice(b"null"),
        }
        self.buf.extend_from_slice(b", \"properties\": ");
        self.properties(row, self.geometry)?;
        self.buf.push(b'}');
        Ok(())
    }
}

fn string(buf: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

impl RowWriter for JsonWriter {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        for row in rows {
            self.buf.clear();
            if self.rows > 0 {
                self.buf.extend_from_slice(b",\n");
            }
            if self.feature_collection {
                self.feature(row)?;
            } else {
                self.properties(row, None)?;
            }
            self.out.write_all(&self.buf)?;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Summary> {
        let mut this = *self;
        this.out
            .write_all(if this.feature_collection { b"]}\n" } else { b"]\n" })?;
        let file = this
            .out
            .into_inner()
            .map_err(|e| crate::ExportError::Io(e.into_error()))?;
        drop(file);
        Ok(Summary {
            rows: this.rows,
            notices: Vec::new(),
        })
    }
}
