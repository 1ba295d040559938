//! GeoNature's response shapes, written with `gn_protocol`'s page model and Flask JSON rules
//! (sorted keys, `", "`/`": "` separators, UTF-8 kept).
//!
//! - Export page: [`PageStream`] over `gn_protocol::page::PageWriter`: flat items (geometry
//!   columns left out) or a FeatureCollection (NULL geometries dropped, still counted).
//! - `/api/gn_commons/modules`: [`modules_reply`] (the EXPORTS entry).
//! - `/api/exports/`: [`export_list_reply`] (GeoNature's list or Pagination shape; tokens are
//!   never listed: `cor_roles_exports` is empty).
//! - `/api/synthese/log`: [`log_reply`] (`gn_protocol::log::LogPage`).
//! - `POST /api/auth/login`: [`login_reply`] and [`login_cookie`].
//! - Errors: [`error_body`] / [`error_head`], GeoNature's `{"code", "description", "name",
//!   "request_id"}` (no `request_id` on 401).

use crate::error::ServeError;
use crate::http::ResponseHead;
use crate::params::ExportListParams;
use crate::plan::OutputColumn;
use crate::routes::EXPORTS_MODULE_PATH;
use chrono::{DateTime, Utc};
use gn_protocol::auth::{module_entry, REMEMBER_COOKIE};
use gn_protocol::json::{self, ObjectWriter};
use gn_protocol::log::LogPage;
use gn_protocol::page::{ErrorBody, License, PageCounts, PageWriter};
use gn_protocol::{WireValue, EXPORTS_MODULE_CODE};
use serde_json::{json, Value};
use std::io::{self, Write};

pub const JSON: &str = "application/json";

/// GeoNature's JSON error body for `err`.
pub fn error_body(err: &ServeError, request_id: &str) -> String {
    let rid = (err.status != 401).then_some(request_id);
    ErrorBody::new(err.status, err.message.clone()).to_json(rid)
}

/// The head of an error reply (with `Allow` on a 405).
pub fn error_head(err: &ServeError) -> ResponseHead {
    let head = ResponseHead::json(err.status);
    match err.allow {
        Some(allow) => head.header("Allow", allow),
        None => head,
    }
}

/// `GET /api/gn_commons/modules`: the Export module only, at [`EXPORTS_MODULE_PATH`], with the
/// caller's read scope (1: the exports it may read; 3: all).
pub fn modules_reply(scope: u8) -> String {
    json::to_string(&Value::Array(vec![module_entry(
        5,
        EXPORTS_MODULE_CODE,
        "Exports",
        EXPORTS_MODULE_PATH,
        scope,
    )]))
}

/// Streams one export API page: [`Self::begin`], [`Self::write_row`] per row, [`Self::finish`].
pub struct PageStream {
    inner: PageWriter,
    feature_collection: bool,
    items: u64,
}

/// Writes a GeoJSON geometry (PostGIS text) as python-geojson does: keys sorted, coordinates as
/// floats (`6.0`, not `6`).
pub fn write_geometry<W: Write + ?Sized>(out: &mut W, geojson: &str) -> io::Result<()> {
    fn floats(v: &Value) -> Value {
        match v {
            Value::Number(n) => n.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
            Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
            other => other.clone(),
        }
    }
    fn fix(v: &mut Value) {
        if let Value::Object(m) = v {
            m.remove("crs");
            if let Some(c) = m.get_mut("coordinates") {
                *c = floats(c);
            }
            if let Some(Value::Array(gs)) = m.get_mut("geometries") {
                gs.iter_mut().for_each(fix);
            }
        }
    }
    let mut v: Value = serde_json::from_str(geojson).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    fix(&mut v);
    json::write_value(out, &v)
}

impl PageStream {
    pub fn begin<W: Write + ?Sized>(out: &mut W, feature_collection: bool) -> io::Result<PageStream> {
        Ok(PageStream {
            inner: PageWriter::begin(out, feature_collection)?,
            feature_collection,
            items: 0,
        })
    }

    /// Writes one row (`values` in the order of `output`, the plan's output columns; the GeoJSON
    /// column is `Text` or `Null`). Returns `false` for a Feature dropped for a NULL geometry.
    pub fn write_row<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        output: &[OutputColumn],
        values: &[WireValue],
    ) -> io::Result<bool> {
        if values.len() != output.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} values for {} output columns", values.len(), output.len()),
            ));
        }
        let props = || output.iter().zip(values).filter(|(c, _)| !c.geojson);
        if self.feature_collection {
            let geometry = output.iter().zip(values).find(|(c, _)| c.geojson).map(|(_, v)| v);
            let Some(WireValue::Text(g)) = geometry else {
                return Ok(false);
            };
            self.inner.item_separator(out)?;
            out.write_all(b"{\"geometry\": ")?;
            write_geometry(out, g)?;
            out.write_all(b", \"properties\": ")?;
            let mut o = ObjectWriter::begin(&mut *out)?;
            for (c, v) in props() {
                v.write_json(o.key(&c.name)?)?;
            }
            o.end()?;
            out.write_all(b", \"type\": \"Feature\"}")?;
        } else {
            self.inner.item_separator(out)?;
            let mut o = ObjectWriter::begin(&mut *out)?;
            for (c, v) in props() {
                v.write_json(o.key(&c.name)?)?;
            }
            o.end()?;
        }
        self.items += 1;
        Ok(true)
    }

    /// Items written so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn finish<W: Write + ?Sized>(self, out: &mut W, license: &License, counts: &PageCounts) -> io::Result<()> {
        self.inner.finish(out, license, counts)
    }
}

/// One export as `GET /api/exports/` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportListEntry {
    pub id: i32,
    pub label: String,
    pub schema_name: String,
    pub view_name: String,
    pub view_pk_column: String,
    pub desc: Option<String>,
    pub geometry_field: Option<String>,
    pub geometry_srid: Option<i32>,
    pub public: bool,
    pub id_licence: i32,
    pub licence: License,
}

impl ExportListEntry {
    fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "label": self.label,
            "schema_name": self.schema_name,
            "view_name": self.view_name,
            "view_pk_column": self.view_pk_column,
            "desc": self.desc,
            "geometry_field": self.geometry_field,
            "geometry_srid": self.geometry_srid,
            "public": self.public,
            "id_licence": self.id_licence,
            "licence": {"id_licence": self.id_licence, "name_licence": self.licence.name, "url_licence": self.licence.href},
            // GeoNature lists every role's token here; we never list tokens.
            "cor_roles_exports": [],
        })
    }
}

/// SQL `ILIKE`: `%` any run, `_` one character, case-insensitive.
pub fn ilike(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    // dp[j]: p[..i] matches t[..j].
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= dp[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = dp[j - 1] && (pc == '_' || pc == t[j - 1]);
            }
        }
        dp = next;
    }
    dp[t.len()]
}

/// `GET /api/exports/`: the exports the caller may read, filtered by `search` (GeoNature:
/// `label ILIKE '%' || replace(search, ' ', '%') || '%'`), ordered by label; an array, or
/// GeoNature's Pagination object with `page`+`per_page`.
pub fn export_list_reply(mut entries: Vec<ExportListEntry>, params: &ExportListParams) -> String {
    if let Some(s) = &params.search {
        let pattern = format!("%{}%", s.replace(' ', "%"));
        entries.retain(|e| ilike(&e.label, &pattern));
    }
    entries.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
    let Some((page, per_page)) = params.pagination else {
        return json::to_string(&Value::Array(entries.iter().map(ExportListEntry::to_value).collect()));
    };
    let total = entries.len() as u64;
    let pages = total.div_ceil(per_page);
    let start = (page - 1).saturating_mul(per_page).min(total) as usize;
    let items: Vec<Value> = entries
        .iter()
        .skip(start)
        .take(per_page as usize)
        .map(ExportListEntry::to_value)
        .collect();
    json::to_string(&json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "pages": pages,
        "total": total,
        "has_prev": page > 1,
        "prev_num": if page > 1 { Some(page - 1) } else { None },
        "has_next": page < pages,
        "next_num": if page < pages { Some(page + 1) } else { None },
    }))
}

/// `GET /api/synthese/log`.
pub fn log_reply(page: &LogPage) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = page.write_json(&mut out);
    out
}

/// The caller of a successful login: a PostgreSQL role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginUser {
    /// The role's oid.
    pub id_role: i64,
    /// The role's name.
    pub identifiant: String,
}

fn expires_iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// The body of a successful `POST /api/auth/login`: `{"expires", "token", "user"}`.
pub fn login_reply(user: &LoginUser, token: &str, expires: &DateTime<Utc>) -> String {
    json::to_string(&json!({
        "user": {
            "id_role": user.id_role,
            "identifiant": user.identifiant,
            "nom_role": user.identifiant,
            "prenom_role": null,
            "nom_complet": user.identifiant,
            "groupe": false,
            "active": true,
            "id_organisme": null,
            "email": null,
            "providers": [{"id_provider": "local_provider", "name": "PostgreSQL", "url": null}],
        },
        "token": token,
        "expires": expires_iso(expires),
    }))
}

/// The `Set-Cookie` value of a login: the `token` cookie pypnusershub sets and our auth reads.
pub fn login_cookie(token: &str, expires: &DateTime<Utc>, secure: bool) -> String {
    format!(
        "{REMEMBER_COOKIE}={token}; Expires={}; HttpOnly; Path=/; SameSite=Lax{}",
        expires.format("%a, %d %b %Y %H:%M:%S GMT"),
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use gn_protocol::log::LogEntry;
    use gn_protocol::page::{seeded_licences, ExportPage, Items};
    use gn_protocol::query::ColumnKind;

    fn out_col(name: &str, geojson: bool) -> OutputColumn {
        OutputColumn {
            name: name.into(),
            kind: if geojson {
                ColumnKind::Geometry
            } else {
                ColumnKind::Text
            },
            sql_type: "text".into(),
            geojson,
        }
    }

    fn counts() -> PageCounts {
        PageCounts {
            limit: 2,
            page: 0,
            total: 10,
            total_filtered: 3,
        }
    }

    #[test]
    fn flat_page() {
        let output = [out_col("id_synthese", false), out_col("nom_cite", false)];
        let mut out = Vec::new();
        let mut p = PageStream::begin(&mut out, false).unwrap();
        p.write_row(
            &mut out,
            &output,
            &[WireValue::Int(1), WireValue::Text("Lynx é".into())],
        )
        .unwrap();
        p.write_row(&mut out, &output, &[WireValue::Int(2), WireValue::Null])
            .unwrap();
        assert!(p.write_row(&mut out, &output, &[WireValue::Int(3)]).is_err());
        assert_eq!(p.items(), 2);
        let lic = seeded_licences()[0].1.clone();
        p.finish(&mut out, &lic, &counts()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"items\": [{{\"id_synthese\": 1, \"nom_cite\": \"Lynx é\"}}, {{\"id_synthese\": 2, \"nom_cite\": null}}], \"license\": {{\"href\": \"{}\", \"name\": \"{}\"}}, \"limit\": 2, \"page\": 0, \"total\": 10, \"total_filtered\": 3}}",
                lic.href, lic.name
            )
        );
        let page = ExportPage::from_slice(&out).unwrap();
        assert_eq!((page.items.len(), page.total_filtered), (2, Some(3)));
    }

    #[test]
    fn feature_collection_page() {
        let output = [out_col("id_synthese", false), out_col("geom", true)];
        let mut out = Vec::new();
        let mut p = PageStream::begin(&mut out, true).unwrap();
        let g = r#"{"type":"Point","coordinates":[6,45.1234567]}"#;
        assert!(p
            .write_row(&mut out, &output, &[WireValue::Int(1), WireValue::Text(g.into())])
            .unwrap());
        assert!(!p
            .write_row(&mut out, &output, &[WireValue::Int(2), WireValue::Null])
            .unwrap());
        p.finish(&mut out, &seeded_licences()[1].1, &counts()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"items": {"features": [{"geometry": {"coordinates": [6.0, 45.1234567], "type": "Point"}, "properties": {"id_synthese": 1}, "type": "Feature"}], "type": "FeatureCollection"}, "license": "#),
            "{text}"
        );
        assert!(matches!(ExportPage::from_slice(&out).unwrap().items, Items::Features(ref f) if f.len() == 1));
        let mut b = Vec::new();
        write_geometry(&mut b, r#"{"type":"GeometryCollection","crs":{},"geometries":[{"type":"LineString","coordinates":[[1,2],[3.5,4]]}]}"#).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            r#"{"geometries": [{"coordinates": [[1.0, 2.0], [3.5, 4.0]], "type": "LineString"}], "type": "GeometryCollection"}"#
        );
    }

    #[test]
    fn errors() {
        let e = ServeError::not_found();
        assert_eq!(
            error_body(&e, "r1"),
            r#"{"code": 404, "description": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.", "name": "Not Found", "request_id": "r1"}"#
        );
        let u = error_body(&ServeError::unauthorized(), "r2");
        assert!(
            u.starts_with(r#"{"code": 401, "description": "The server could not verify"#) && !u.contains("request_id"),
            "{u}"
        );
        assert!(
            error_body(&ServeError::forbidden("You are not allowed to access export 3"), "r")
                .contains(r#""name": "Forbidden""#)
        );
        assert!(
            error_body(&ServeError::bad_request("No column name x to sort with"), "r")
                .contains(r#""code": 400, "description": "No column name x to sort with", "name": "Bad Request""#)
        );
        assert!(error_body(&ServeError::internal(), "r").contains(r#""name": "Internal Server Error""#));
        let m = ServeError::method_not_allowed("POST");
        assert!(error_body(&m, "r").contains(r#""name": "Method Not Allowed""#));
        assert_eq!(
            error_head(&m).headers.last().map(|(k, v)| (k.as_str(), v.as_str())),
            Some(("Allow", "POST"))
        );
    }

    #[test]
    fn modules_list_log_login() {
        let m: Value = serde_json::from_str(&modules_reply(1)).unwrap();
        assert_eq!(gn_protocol::auth::export_module_path(&m).as_deref(), Some("exports"));

        let entry = |id: i32, label: &str| ExportListEntry {
            id,
            label: label.into(),
            schema_name: "gn_exports".into(),
            view_name: "v".into(),
            view_pk_column: "id_synthese".into(),
            desc: None,
            geometry_field: None,
            geometry_srid: None,
            public: id == 1,
            id_licence: 1,
            licence: seeded_licences()[0].1.clone(),
        };
        let all = vec![
            entry(2, "Synthese SINP"),
            entry(1, "Autre export"),
            entry(3, "Synthèse publique"),
        ];
        let list: Value = serde_json::from_str(&export_list_reply(all.clone(), &ExportListParams::default())).unwrap();
        let labels: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Autre export", "Synthese SINP", "Synthèse publique"]);
        assert_eq!(list[0]["cor_roles_exports"], json!([]));
        assert_eq!(list[0]["licence"]["id_licence"], json!(1));
        let searched = export_list_reply(
            all.clone(),
            &ExportListParams {
                search: Some("synth sinp".into()),
                pagination: None,
            },
        );
        assert_eq!(
            serde_json::from_str::<Value>(&searched)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let paged: Value = serde_json::from_str(&export_list_reply(
            all,
            &ExportListParams {
                search: None,
                pagination: Some((2, 2)),
            },
        ))
        .unwrap();
        assert_eq!(
            (
                paged["total"].clone(),
                paged["pages"].clone(),
                paged["has_next"].clone(),
                paged["prev_num"].clone()
            ),
            (json!(3), json!(2), json!(false), json!(1))
        );
        assert_eq!(paged["items"].as_array().unwrap().len(), 1);
        assert!(ilike("Synthèse", "%SYNTH_SE%") && !ilike("abc", "a_") && ilike("", "%"));

        let at = gn_protocol::time::parse_timestamp("2024-05-06 07:08:09").unwrap();
        let log = log_reply(&LogPage {
            items: vec![LogEntry {
                id_synthese: 7,
                last_action: "D".into(),
                meta_last_action_date: at,
            }],
            total: 1,
            limit: 50,
            page: 1,
        });
        assert_eq!(
            String::from_utf8(log).unwrap(),
            r#"{"items": [{"id_synthese": 7, "last_action": "D", "meta_last_action_date": "2024-05-06 07:08:09"}], "limit": 50, "page": 1, "total": 1}"#
        );

        let exp = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let user = LoginUser {
            id_role: 16384,
            identifiant: "alice".into(),
        };
        let body = login_reply(&user, "tok", &exp);
        let reply: gn_protocol::auth::LoginReply = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (reply.token.as_str(), reply.expires.as_deref()),
            ("tok", Some("2025-01-02T03:04:05.000000+00:00"))
        );
        assert_eq!(reply.user["identifiant"], json!("alice"));
        assert!(body.starts_with(r#"{"expires": "#));
        assert_eq!(
            login_cookie("tok", &exp, true),
            "token=tok; Expires=Thu, 02 Jan 2025 03:04:05 GMT; HttpOnly; Path=/; SameSite=Lax; Secure"
        );
    }
}
