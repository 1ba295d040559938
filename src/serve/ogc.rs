//! OGC API – Features on the API worker: one collection per export the caller may read (the same
//! roles, tokens and public exports as the GeoNature routes), pages by keyset cursor, and the
//! OpenAPI document. Parameters, SQL, links and shapes are `gn_serve`'s (`ogc`, `features`,
//! `openapi`, `html`); this module runs the SQL as the reading role and streams the features.

use super::handle::{
    authenticate, cached_count, client_gone, export_meta, export_rows, reader_for, spi_failure, transaction, Caller,
    ExportRow, Outcome, PageCursor, State, Whole,
};
use super::reply::{now_http_date, SocketOut};
use crate::ffi;
use gn_serve::features::{plan_item, plan_items, FeaturesPlan};
use gn_serve::html::{self, ItemsHtml};
use gn_serve::http::{start_stream, Conn, ResponseHead};
use gn_serve::ogc::{
    self, base_url, check_params, conformance_json, cors_headers, encode_cursor, encode_query, items_query,
    landing_json, link, preflight_headers, self_links, with_query, Collection, Crs, Format, Links, OgcRoute, GEOJSON,
    HTML, JSON, OPENAPI_JSON,
};
use gn_serve::{Method, Request, ServeError};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

/// How long a collection's extent is reused (its computation reads the whole view).
const EXTENT_TTL: Duration = Duration::from_secs(300);

/// A collection's extent in CRS84 and its time span.
#[derive(Debug, Clone, Default)]
pub struct Extent {
    pub bbox: Option<[f64; 4]>,
    pub interval: Option<(Option<String>, Option<String>)>,
}

/// An OGC error reply: an HTML page for a browser, else `{code, description}`; with CORS headers.
pub(super) fn error_reply(err: &ServeError, st: &State, req: &Request) -> (ResponseHead, String) {
    if ogc::negotiate(req) == Ok(Format::Html) {
        let (mut head, body) = super::pages::error_reply(err, st, req);
        for (k, v) in cors_headers() {
            head = head.header(&k, v);
        }
        return (head, body);
    }
    let mut head = ResponseHead::new(err.status, JSON);
    for (k, v) in cors_headers() {
        head = head.header(&k, v);
    }
    if let Some(allow) = err.allow {
        head = head.header("Allow", allow);
    }
    (head, ogc::exception_body(err))
}

fn links(req: &Request, st: &State) -> Links {
    Links::new(
        &base_url(req, st.settings.public_url.as_deref()),
        st.settings.router.root(),
    )
}

fn with_cors(mut w: Whole) -> Whole {
    w.headers.extend(cors_headers());
    w
}

fn json_whole(v: &Value, content_type: &'static str) -> Whole {
    with_cors(Whole::with(200, content_type, v.to_string()))
}

fn html_whole(body: String) -> Whole {
    with_cors(Whole::with(200, HTML, body))
}

pub(super) fn dispatch(
    route: OgcRoute,
    req: &Request,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<(), ServeError> {
    if req.method == Method::Options {
        let mut w = Whole::with(204, "text/plain", Vec::new());
        w.headers.extend(preflight_headers());
        return super::handle::send_whole(w, conn, out, outcome);
    }
    let format = ogc::negotiate(req)?;
    let whole = match route {
        OgcRoute::Items(id) => return transaction(|| items(&id, format, req, conn, out, st, outcome)),
        OgcRoute::Landing => transaction(|| {
            check_params(&req.query, &[])?;
            authenticate(req, outcome)?;
            let l = links(req, st);
            let doc = landing_json(
                &l,
                "gn_flux: GeoNature exports",
                self_links(&l.landing(), &req.raw_query, format, JSON),
            );
            Ok(match format {
                Format::Json => json_whole(&doc, JSON),
                Format::Html => html_whole(html::landing(&super::pages::site_for(req, st, None), &doc)),
            })
        })?,
        OgcRoute::Conformance => {
            check_params(&req.query, &[])?;
            let doc = conformance_json();
            match format {
                Format::Json => json_whole(&doc, JSON),
                Format::Html => transaction(|| {
                    let caller = authenticate(req, outcome).ok();
                    Ok(html_whole(html::conformance(
                        &super::pages::site_for(req, st, caller.as_ref()),
                        &doc,
                    )))
                })?,
            }
        }
        OgcRoute::Api => {
            check_params(&req.query, &[])?;
            if format == Format::Html {
                transaction(|| super::pages::docs(req, st, outcome).map(with_cors))?
            } else {
                transaction(|| {
                    let doc = openapi_document(req, st, outcome)?;
                    Ok(json_whole(&doc, OPENAPI_JSON))
                })?
            }
        }
        OgcRoute::Collections => transaction(|| {
            check_params(&req.query, &[])?;
            let caller = authenticate(req, outcome)?;
            let l = links(req, st);
            let mut list = Vec::new();
            for (export, reader) in readable(&caller, st)? {
                let c = collection(&export, reader, st, true)?;
                let own = self_links(&l.collection(&c.id), "", Format::Json, JSON);
                list.push(c.to_json(&l, own));
            }
            let doc = json!({
                "links": self_links(&l.collections(), &req.raw_query, format, JSON),
                "collections": list,
            });
            Ok(match format {
                Format::Json => json_whole(&doc, JSON),
                Format::Html => html_whole(html::collections(
                    &super::pages::site_for(req, st, Some(&caller)),
                    &doc,
                    &l,
                )),
            })
        })?,
        OgcRoute::Collection(id) => transaction(|| {
            check_params(&req.query, &[])?;
            let caller = authenticate(req, outcome)?;
            let (export, reader) = find(&id, &caller, st, outcome)?;
            let c = collection(&export, reader, st, true)?;
            let l = links(req, st);
            let doc = c.to_json(&l, self_links(&l.collection(&c.id), &req.raw_query, format, JSON));
            Ok(match format {
                Format::Json => json_whole(&doc, JSON),
                Format::Html => html_whole(html::collection(&super::pages::site_for(req, st, Some(&caller)), &doc)),
            })
        })?,
        OgcRoute::Item(id, fid) => transaction(|| item(&id, &fid, format, req, st, outcome))?,
    };
    super::handle::send_whole(whole, conn, out, outcome)
}

/// The exports the caller may read, each with the role it reads it as.
pub(super) fn readable(caller: &Caller, st: &State) -> Result<Vec<(ExportRow, pg_sys::Oid)>, ServeError> {
    let mut out = Vec::new();
    for export in export_rows(None)? {
        match reader_for(caller, &export, st) {
            Ok(reader) => out.push((export, reader)),
            Err(e) if matches!(e.status, 401 | 403) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The export whose collection id is `id`, and its reader: 404 when there is none, 401/403
/// when the caller may not read it.
fn find(id: &str, caller: &Caller, st: &State, outcome: &mut Outcome) -> Result<(ExportRow, pg_sys::Oid), ServeError> {
    // (an exact id, else the one id equal but for case: ids are file stems, which keep it)
    let exports = export_rows(None)?;
    let stem = |e: &ExportRow| crate::export::export_file_stem(&e.label);
    let folded: Vec<&ExportRow> = exports.iter().filter(|e| stem(e).eq_ignore_ascii_case(id)).collect();
    let export = exports
        .iter()
        .find(|e| stem(e) == id)
        .or(if folded.len() == 1 {
            folded.first().copied()
        } else {
            None
        })
        .cloned()
        .ok_or_else(|| ServeError::new(404, format!("no collection {id:?}: see /collections")))?;
    outcome.export_id = Some(export.id);
    let reader = reader_for(caller, &export, st)?;
    Ok((export, reader))
}

/// Whether a CRS's first axis points north (EPSG geographic CRSs, and projected ones such as
/// EPSG:3035), from `spatial_ref_sys`.
fn north_first(srid: i32, postgis: &str) -> Result<bool, ServeError> {
    if srid <= 0 {
        return Ok(false);
    }
    let schema = postgis.trim_end_matches('.');
    let wkt = Spi::get_one_with_args::<String>(
        &format!("SELECT srtext::pg_catalog.text FROM {schema}.spatial_ref_sys WHERE srid OPERATOR(pg_catalog.=) $1"),
        &[srid.into()],
    )
    .map_err(spi_failure)?;
    Ok(wkt.is_some_and(|w| ogc::north_first_from_wkt(&w)))
}

/// A collection as `reader` sees it; with its extent (cached) when `with_extent`.
fn collection(
    export: &ExportRow,
    reader: pg_sys::Oid,
    st: &mut State,
    with_extent: bool,
) -> Result<Collection, ServeError> {
    ffi::as_role(reader, || {
        let meta = export_meta(export)?;
        let pk = meta
            .columns
            .iter()
            .find(|c| c.name == meta.pk_column)
            .cloned()
            .ok_or_else(ServeError::internal)?;
        let postgis = meta.geometry.as_ref().map(|g| g.postgis.clone()).unwrap_or_default();
        let geometry = match &meta.geometry {
            Some(g) => Some((g.column.clone(), g.srid, north_first(g.srid, &g.postgis)?)),
            None => None,
        };
        let mut c = Collection {
            id: crate::export::export_file_stem(&export.label),
            export_id: export.id,
            schema: export.schema.clone(),
            view: export.view.clone(),
            postgis,
            title: export.label.clone(),
            description: export.description.clone(),
            licence: export.licence.clone(),
            public: export.public,
            pk,
            columns: meta.columns.clone(),
            geometry,
            bbox: None,
            interval: None,
        };
        if with_extent {
            let key = format!("{}:{}", u32::from(reader), export.id);
            let cached = st
                .extents
                .get(&key)
                .filter(|(_, at)| at.elapsed() < EXTENT_TTL)
                .map(|(e, _)| e.clone());
            let extent = match cached {
                Some(e) => e,
                None => {
                    let e = extent(&c, st.settings.statement_timeout_ms)?;
                    if st.extents.len() > 1024 {
                        st.extents.clear();
                    }
                    st.extents.insert(key, (e.clone(), Instant::now()));
                    e
                }
            };
            c.bbox = extent.bbox;
            c.interval = extent.interval;
        }
        Ok(c)
    })
}

/// The extent in CRS84 and the time span, in one scan of the view.
fn extent(c: &Collection, timeout_ms: i32) -> Result<Extent, ServeError> {
    let q = |n: &str| gn_protocol::filter_sql::quote_ident(n).unwrap_or_default();
    let rel = format!("{}.{}", q(&c.schema), q(&c.view));
    let pg = &c.postgis;
    let (spatial, box_cols) = match &c.geometry {
        Some((g, srid, _)) => {
            let geom = if *srid > 0 {
                format!(
                    "{pg}ST_Transform({pg}ST_SetSRID(CAST({pg}ST_Extent({}) AS {pg}geometry), {srid}), 4326)",
                    q(g)
                )
            } else {
                format!("CAST({pg}ST_Extent({}) AS {pg}geometry)", q(g))
            };
            (
                format!("{geom} AS e"),
                format!("{pg}ST_XMin(e), {pg}ST_YMin(e), {pg}ST_XMax(e), {pg}ST_YMax(e)"),
            )
        }
        None => (
            "NULL AS e".into(),
            "NULL::float8, NULL::float8, NULL::float8, NULL::float8".into(),
        ),
    };
    let iso =
        |e: &str| format!("pg_catalog.to_char(CAST({e} AS pg_catalog.timestamp), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    let (temporal, time_cols) = match c.temporal() {
        Some(ogc::Temporal::Range { start, end }) => (
            format!("min({}) AS t0, max({}) AS t1", q(&start.name), q(&end.name)),
            format!("{}, {}", iso("t0"), iso("t1")),
        ),
        Some(ogc::Temporal::Instant(col)) => (
            format!("min({0}) AS t0, max({0}) AS t1", q(&col.name)),
            format!("{}, {}", iso("t0"), iso("t1")),
        ),
        None => ("NULL AS t0, NULL AS t1".into(), "NULL::text, NULL::text".into()),
    };
    let sql = format!("SELECT {box_cols}, {time_cols} FROM (SELECT {spatial}, {temporal} FROM {rel}) AS s");
    ffi::arm_statement_timeout(timeout_ms);
    let row = Spi::connect(|client| {
        let mut rows = client.select(&sql, Some(1), &[])?;
        Ok::<_, pgrx::spi::SpiError>(match rows.next() {
            Some(r) => {
                let b: [Option<f64>; 4] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
                let t0: Option<String> = r.get(5)?;
                let t1: Option<String> = r.get(6)?;
                Extent {
                    bbox: match b {
                        [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
                        _ => None,
                    },
                    interval: (t0.is_some() || t1.is_some()).then_some((t0, t1)),
                }
            }
            None => Extent::default(),
        })
    })
    .map_err(spi_failure)?;
    ffi::disarm_statement_timeout();
    Ok(row)
}

/// The OpenAPI document as the caller sees it (its readable collections).
pub(super) fn openapi_document(req: &Request, st: &mut State, outcome: &mut Outcome) -> Result<Value, ServeError> {
    let caller = authenticate(req, outcome)?;
    let mut list = Vec::new();
    for (export, reader) in readable(&caller, st)? {
        list.push(collection(&export, reader, st, false)?);
    }
    Ok(gn_serve::openapi::document(
        &links(req, st),
        &list,
        st.settings.api.max_limit,
        env!("CARGO_PKG_VERSION"),
    ))
}

fn content_crs(crs: &Crs) -> (String, String) {
    ("Content-Crs".into(), format!("<{}>", crs.uri))
}

/// The items URL with this request's parameters but `cursor` and `f`, plus `extra`.
fn items_href(items_url: &str, req: &Request, extra: &[(&str, &str)]) -> String {
    let pairs = req
        .query
        .iter()
        .filter(|(k, _)| k != "cursor" && k != "f")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied());
    with_query(items_url, &encode_query(pairs))
}

/// The rows of a page from its cursor: up to `limit`, then whether the lookahead row follows.
struct PageRows {
    cursor: PageCursor,
    batch: std::vec::IntoIter<Vec<Option<String>>>,
    limit: u64,
    read: u64,
    done: bool,
}

impl PageRows {
    fn open(plan: &FeaturesPlan, timeout_ms: i32) -> Result<PageRows, ServeError> {
        let cursor = PageCursor::open(&plan.page.sql, &plan.page.params, timeout_ms)?;
        // The first batch before any reply: most errors come at open or first fetch, and are
        // then still answered with their status.
        let first = cursor.fetch()?;
        Ok(PageRows {
            done: first.is_empty(),
            cursor,
            batch: first.into_iter(),
            limit: plan.limit,
            read: 0,
        })
    }

    fn next_row(&mut self) -> Result<Option<Vec<Option<String>>>, ServeError> {
        loop {
            if let Some(row) = self.batch.next() {
                self.read += 1;
                return Ok(Some(row));
            }
            if self.done {
                return Ok(None);
            }
            let rows = self.cursor.fetch()?;
            self.done = rows.is_empty();
            self.batch = rows.into_iter();
        }
    }

    /// The next row of the page; `None` at its end.
    fn next(&mut self) -> Result<Option<Vec<Option<String>>>, ServeError> {
        if self.read >= self.limit {
            return Ok(None);
        }
        self.next_row()
    }

    /// Whether a row follows the page (the plan's lookahead row).
    fn more(&mut self) -> Result<bool, ServeError> {
        Ok(self.read >= self.limit && self.next_row()?.is_some())
    }
}

#[allow(clippy::too_many_arguments)]
fn items(
    id: &str,
    format: Format,
    req: &Request,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<(), ServeError> {
    let caller = authenticate(req, outcome)?;
    let (export, reader) = find(id, &caller, st, outcome)?;
    let c = collection(&export, reader, st, false)?;
    let query = items_query(&req.query, &c, st.settings.api.max_limit, format)?;
    let plan = plan_items(&c, &query)?;
    let l = links(req, st);
    let items_url = l.items(&c.id);
    let timeout = st.settings.statement_timeout_ms;
    let role_key = u32::from(reader).to_string();
    // `numberMatched`: a first page holding every match is its own count; otherwise an exact
    // count, fresh on a walk's first page and reused by its next pages while fresh.
    let matched = |st: &mut State, written: u64, more: bool| -> Result<u64, ServeError> {
        if query.after.is_none() && !more {
            return Ok(written);
        }
        cached_count(
            st,
            format!("{role_key}:{}", plan.count_key),
            &plan.count.sql,
            &plan.count.params,
            query.after.is_some(),
        )
    };
    ffi::as_role(reader, || -> Result<(), ServeError> {
        let mut rows = PageRows::open(&plan, timeout)?;
        if format == Format::Html {
            let mut page = Vec::new();
            while let Some(row) = rows.next()? {
                page.push(row);
            }
            let more = rows.more()?;
            let count = matched(st, page.len() as u64, more)?;
            let last = page.last().and_then(|r| r[0].clone());
            let html_rows = page
                .into_iter()
                .map(|r| {
                    let pk = r[0].clone().unwrap_or_default();
                    (plan.writer.id_json(&pk), l.item(&c.id, &pk), r[2..].to_vec())
                })
                .collect();
            let page = ItemsHtml {
                title: &c.title,
                names: &plan.writer.names,
                rows: html_rows,
                matched: Some(count),
                next_html: last
                    .filter(|_| more)
                    .map(|last| items_href(&items_url, req, &[("cursor", &encode_cursor(&last)), ("f", "html")])),
                first_html: items_href(&items_url, req, &[("f", "html")]),
                links: Value::Array(self_links(&items_url, &req.raw_query, Format::Html, GEOJSON)),
            };
            outcome.rows = Some(page.rows.len() as i64);
            let mut w = html_whole(html::items(&super::pages::site_for(req, st, Some(&caller)), &page));
            w.headers.push(content_crs(&query.crs));
            return super::handle::send_whole(w, conn, out, outcome);
        }
        let mut head = ResponseHead::new(200, GEOJSON);
        for (k, v) in cors_headers().into_iter().chain([content_crs(&query.crs)]) {
            head = head.header(&k, v);
        }
        let mut body = start_stream(&mut *out, &head, conn, &now_http_date()).map_err(client_gone)?;
        outcome.started = true;
        outcome.status = 200;
        body.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")
            .map_err(client_gone)?;
        let mut written: u64 = 0;
        let mut last: Option<String> = None;
        while let Some(row) = rows.next()? {
            if written > 0 {
                body.write_all(b",").map_err(client_gone)?;
            }
            plan.writer.write(&mut body, &row, None).map_err(client_gone)?;
            last = row.into_iter().next().flatten();
            written += 1;
        }
        let more = rows.more()?;
        let count = matched(st, written, more)?;
        let mut all_links = self_links(&items_url, &req.raw_query, Format::Json, GEOJSON);
        if let (true, Some(last)) = (more, &last) {
            let next = items_href(&items_url, req, &[("cursor", &encode_cursor(last))]);
            all_links.push(link(next, "next", GEOJSON, "the next page"));
        }
        all_links.push(link(l.collection(&c.id), "collection", JSON, &c.title));
        let tail = json!({
            "numberMatched": count,
            "numberReturned": written,
            "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "links": all_links,
        })
        .to_string();
        // (the tail object's members, after the features array)
        body.write_all(b"],").map_err(client_gone)?;
        body.write_all(&tail.as_bytes()[1..]).map_err(client_gone)?;
        body.finish().map_err(client_gone)?;
        outcome.rows = Some(written as i64);
        Ok(())
    })
}

fn item(
    id: &str,
    fid: &str,
    format: Format,
    req: &Request,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<Whole, ServeError> {
    let caller = authenticate(req, outcome)?;
    check_params(&req.query, &["crs"])?;
    let (export, reader) = find(id, &caller, st, outcome)?;
    let c = collection(&export, reader, st, false)?;
    let crs = match req.query_value("crs") {
        Some(uri) => c
            .crs_list()
            .into_iter()
            .find(|k| k.uri == uri)
            .ok_or_else(|| ServeError::bad_request(format!("crs: {uri:?} is not offered by this collection")))?,
        None => Crs::crs84(),
    };
    let not_found = || ServeError::new(404, format!("no feature {fid:?} in collection {id}"));
    let plan = plan_item(&c, fid, &crs)?.ok_or_else(not_found)?;
    let timeout = st.settings.statement_timeout_ms;
    let row = ffi::as_role(reader, || -> Result<Option<Vec<Option<String>>>, ServeError> {
        let cursor = PageCursor::open(&plan.page.sql, &plan.page.params, timeout)?;
        Ok(cursor.fetch()?.into_iter().next())
    })
    .map_err(|e| if e.status == 400 { not_found() } else { e })?
    .ok_or_else(not_found)?;
    outcome.rows = Some(1);
    let l = links(req, st);
    let url = l.item(&c.id, fid);
    let mut all_links = self_links(&url, &req.raw_query, format, GEOJSON);
    all_links.push(link(l.collection(&c.id), "collection", JSON, &c.title));
    let mut w = match format {
        Format::Json => {
            let extra = format!("\"links\":{}", Value::Array(all_links));
            let mut body = Vec::new();
            plan.writer
                .write(&mut body, &row, Some(&extra))
                .map_err(|_| ServeError::internal())?;
            with_cors(Whole::with(200, GEOJSON, body))
        }
        Format::Html => html_whole(html::item(
            &super::pages::site_for(req, st, Some(&caller)),
            &format!("{} · {}", c.title, fid),
            &plan.writer.names,
            &row[2..],
            row[1].as_deref(),
            &Value::Array(all_links),
        )),
    };
    w.headers.push(content_crs(&crs));
    Ok(w)
}
