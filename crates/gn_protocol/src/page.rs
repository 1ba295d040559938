//! One page of `GET /api/exports/api/<id>`:
//! `{"items": …, "license": {"href", "name"}, "limit", "page", "total", "total_filtered"}`.
//! Items are a flat array of row objects, or a GeoJSON FeatureCollection when the export has a
//! geometry field.

use crate::json::{self, ObjectWriter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{self, Write};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    pub href: String,
    pub name: String,
}

/// The three licences GeoNature's Export module ships (`gn_exports.t_licences`).
pub fn seeded_licences() -> [(i32, License); 3] {
    [
        (
            1,
            License {
                name: "Creative Commons Attribution 1.0 Generic".into(),
                href: "https://spdx.org/licenses/CC-BY-1.0.html".into(),
            },
        ),
        (
            2,
            License {
                name: "ODC Open Database License v1.0".into(),
                href: "https://spdx.org/licenses/ODbL-1.0.html".into(),
            },
        ),
        (
            3,
            License {
                name: "Licence Ouverte/Open Licence Version 2.0".into(),
                href: "https://spdx.org/licenses/etalab-2.0.html".into(),
            },
        ),
    ]
}

/// The counters of a page reply, known before the items are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCounts {
    pub limit: u64,
    pub page: u64,
    pub total: u64,
    pub total_filtered: u64,
}

/// Streams a page reply: call [`PageWriter::begin`], write items, then [`PageWriter::finish`].
/// Keys come out sorted as Flask writes them (`items` first, so items can be streamed).
pub struct PageWriter {
    feature_collection: bool,
    first_item: bool,
}

impl PageWriter {
    pub fn begin<W: Write + ?Sized>(out: &mut W, feature_collection: bool) -> io::Result<PageWriter> {
        out.write_all(b"{\"items\": ")?;
        if feature_collection {
            out.write_all(b"{\"features\": [")?;
        } else {
            out.write_all(b"[")?;
        }
        Ok(PageWriter {
            feature_collection,
            first_item: true,
        })
    }

    /// Writes the separator before an item; the caller then writes the item itself.
    pub fn item_separator<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        if !self.first_item {
            out.write_all(b", ")?;
        }
        self.first_item = false;
        Ok(())
    }

    pub fn finish<W: Write + ?Sized>(self, out: &mut W, license: &License, counts: &PageCounts) -> io::Result<()> {
        if self.feature_collection {
            out.write_all(b"], \"type\": \"FeatureCollection\"}")?;
        } else {
            out.write_all(b"]")?;
        }
        out.write_all(b", \"license\": ")?;
        let mut lic = ObjectWriter::begin(&mut *out)?;
        json::write_str(lic.key("href")?, &license.href)?;
        json::write_str(lic.key("name")?, &license.name)?;
        lic.end()?;
        write!(
            out,
            ", \"limit\": {}, \"page\": {}, \"total\": {}, \"total_filtered\": {}}}",
            counts.limit, counts.page, counts.total, counts.total_filtered
        )
    }
}

/// The items of a page, as received.
#[derive(Debug, Clone, PartialEq)]
pub enum Items {
    Rows(Vec<Value>),
    /// Features of a FeatureCollection: each `{"type":"Feature","geometry":…,"properties":…}`.
    Features(Vec<Value>),
}

impl Items {
    pub fn len(&self) -> usize {
        match self {
            Items::Rows(v) | Items::Features(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A page reply as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub items: Items,
    pub license: Option<License>,
    pub limit: u64,
    pub page: u64,
    pub total: u64,
    pub total_filtered: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PageError {
    #[error("the reply is not valid JSON: {0}")]
    NotJson(String),
    #[error("the reply is not a GeoNature export page: {0}")]
    NotAnExportPage(String),
}

fn counter(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, PageError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| PageError::NotAnExportPage(format!("\"{key}\" is not a non-negative integer"))),
    }
}

impl ExportPage {
    pub fn from_slice(body: &[u8]) -> Result<ExportPage, PageError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| PageError::NotJson(e.to_string()))?;
        Self::from_value(v)
    }

    pub fn from_value(v: Value) -> Result<ExportPage, PageError> {
        let Value::Object(mut obj) = v else {
            return Err(PageError::NotAnExportPage("the reply is not a JSON object".into()));
        };
        let items = match obj.remove("items") {
            Some(Value::Array(rows)) => Items::Rows(rows),
            Some(Value::Object(mut fc)) if fc.get("type").and_then(Value::as_str) == Some("FeatureCollection") => {
                match fc.remove("features") {
                    Some(Value::Array(f)) => Items::Features(f),
                    _ => {
                        return Err(PageError::NotAnExportPage(
                            "FeatureCollection without a features array".into(),
                        ))
                    }
                }
            }
            Some(_) => {
                return Err(PageError::NotAnExportPage(
                    "\"items\" is neither an array nor a FeatureCollection".into(),
                ))
            }
            None => return Err(PageError::NotAnExportPage("no \"items\" key".into())),
        };
        let limit = counter(&obj, "limit")?.ok_or_else(|| PageError::NotAnExportPage("no \"limit\" key".into()))?;
        let total = counter(&obj, "total")?.ok_or_else(|| PageError::NotAnExportPage("no \"total\" key".into()))?;
        let license = obj.remove("license").and_then(|l| serde_json::from_value(l).ok());
        Ok(ExportPage {
            items,
            license,
            limit,
            page: counter(&obj, "page")?.unwrap_or(0),
            total,
            total_filtered: counter(&obj, "total_filtered")?,
        })
    }
}

/// GeoNature's JSON error body (`core/errors.py`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u16,
    pub name: String,
    pub description: String,
}

impl ErrorBody {
    pub fn new(code: u16, description: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            name: reason_phrase(code).to_string(),
            description: description.into(),
        }
    }

    /// GeoNature omits `request_id` on 401 replies only.
    pub fn to_json(&self, request_id: Option<&str>) -> String {
        let mut out = Vec::new();
        let _ = (|| -> io::Result<()> {
            let mut o = ObjectWriter::begin(&mut out)?;
            write!(o.key("code")?, "{}", self.code)?;
            json::write_str(o.key("description")?, &self.description)?;
            json::write_str(o.key("name")?, &self.name)?;
            if let Some(id) = request_id {
                json::write_str(o.key("request_id")?, id)?;
            }
            o.end()
        })();
        String::from_utf8(out).unwrap_or_default()
    }
}

pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Werkzeug's default `description` of an HTTP error (what GeoNature puts in the JSON error body
/// when the code raising it gives none).
pub fn default_description(code: u16) -> &'static str {
    match code {
        400 => "The browser (or proxy) sent a request that this server could not understand.",
        401 => "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required.",
        403 => "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.",
        404 => "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        405 => "The method is not allowed for the requested URL.",
        408 => "The server closed the network connection because the browser didn't finish the request within the specified time.",
        411 => "A request with this method requires a valid <code>Content-Length</code> header.",
        413 => "The data value transmitted exceeds the capacity limit.",
        414 => "The length of the requested URL exceeds the capacity limit for this server. The request cannot be processed.",
        429 => "This user has exceeded an allotted request count. Try again later.",
        431 => "One or more header fields exceeds the maximum size.",
        500 => "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.",
        501 => "The server does not support the action requested by the browser.",
        503 => "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.",
        505 => "The server does not support the HTTP protocol version used in the request.",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_flat_page() {
        let mut out = Vec::new();
        let mut w = PageWriter::begin(&mut out, false).unwrap();
        for i in 1..=2 {
            w.item_separator(&mut out).unwrap();
            write!(out, "{{\"id_synthese\": {i}}}").unwrap();
        }
        let lic = seeded_licences()[0].1.clone();
        let counts = PageCounts {
            limit: 2,
            page: 0,
            total: 5,
            total_filtered: 5,
        };
        w.finish(&mut out, &lic, &counts).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("{\"items\": [{\"id_synthese\": 1}, {\"id_synthese\": 2}], \"license\": {\"href\": "));
        assert!(text.ends_with("\"limit\": 2, \"page\": 0, \"total\": 5, \"total_filtered\": 5}"));
        let page = ExportPage::from_slice(&out).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!((page.limit, page.total, page.total_filtered), (2, 5, Some(5)));
        assert_eq!(page.license, Some(lic));
    }

    #[test]
    fn reads_feature_collection_and_rejects_others() {
        let fc = br#"{"items": {"features": [{"type": "Feature", "geometry": null, "properties": {}}], "type": "FeatureCollection"}, "limit": 1, "page": 0, "total": 1, "total_filtered": 1}"#;
        assert!(matches!(ExportPage::from_slice(fc).unwrap().items, Items::Features(ref f) if f.len() == 1));
        assert!(matches!(
            ExportPage::from_slice(b"[1,2]"),
            Err(PageError::NotAnExportPage(_))
        ));
        assert!(matches!(
            ExportPage::from_slice(b"{\"items\": [], \"limit\""),
            Err(PageError::NotJson(_))
        ));
        assert!(matches!(
            ExportPage::from_slice(b"{\"items\": 3, \"limit\": 1, \"total\": 1}"),
            Err(PageError::NotAnExportPage(_))
        ));
    }

    #[test]
    fn error_body_shape() {
        assert_eq!(
            ErrorBody::new(404, "Not found").to_json(Some("r1")),
            r#"{"code": 404, "description": "Not found", "name": "Not Found", "request_id": "r1"}"#
        );
    }
}
