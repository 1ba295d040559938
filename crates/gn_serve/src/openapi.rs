//! The OpenAPI 3.0 document of the node: the GeoNature-compatible routes and the OGC API –
//! Features routes, with one schema per export generated from its view's columns.
//!
//! The server is `<site>/ogc` (OGC paths are written as the standard names them, and GDAL
//! looks for `/collections/{id}/items` there); the GeoNature routes carry their own server,
//! the site root. Each collection also gets its concrete `/collections/<id>/items` path with one
//! query parameter per simple property, which is how GDAL learns which `-where` terms it may
//! send as `name=value`. `components.parameters.limit` carries the default and maximum QGIS
//! reads for its page size.

use crate::ogc::{Collection, Links, DEFAULT_LIMIT, GEOJSON, JSON, OPENAPI_JSON};
use gn_protocol::query::ColumnKind;
use serde_json::{json, Map, Value};

fn reference(kind: &str, name: &str) -> Value {
    json!({"$ref": format!("#/components/{kind}/{name}")})
}

fn param(name: &str) -> Value {
    reference("parameters", name)
}

/// The JSON Schema of a column's values (as `to_json` writes them).
pub fn column_schema(kind: ColumnKind, sql_type: &str) -> Value {
    let mut s = match kind {
        ColumnKind::Integer => json!({"type": "integer", "format": "int32"}),
        ColumnKind::BigInt => json!({"type": "integer", "format": "int64"}),
        ColumnKind::Float | ColumnKind::Numeric => json!({"type": "number"}),
        ColumnKind::Boolean => json!({"type": "boolean"}),
        ColumnKind::Uuid => json!({"type": "string", "format": "uuid"}),
        ColumnKind::Date => json!({"type": "string", "format": "date"}),
        ColumnKind::Timestamp => json!({"type": "string", "format": "date-time"}),
        ColumnKind::Json => json!({}),
        ColumnKind::Text | ColumnKind::Varchar | ColumnKind::Geometry => json!({"type": "string"}),
    };
    if let Value::Object(m) = &mut s {
        m.insert("nullable".into(), Value::Bool(true));
        m.insert("description".into(), Value::from(format!("PostgreSQL type {sql_type}")));
    }
    s
}

/// Schema name of a collection's features.
fn feature_schema_name(c: &Collection) -> String {
    let safe: String =
        c.id.chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' || ch == '.' {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
    format!("Feature_{safe}")
}

fn feature_schema(c: &Collection) -> Value {
    let mut props = Map::new();
    for col in c.columns.iter().filter(|c| c.kind != ColumnKind::Geometry) {
        props.insert(col.name.clone(), column_schema(col.kind, &col.sql_type));
    }
    json!({
        "type": "object",
        "description": format!("A feature of collection {} (export {}, {})", c.id, c.export_id, c.title),
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": column_schema(c.pk.kind, &c.pk.sql_type),
            "geometry": reference("schemas", "geometryGeoJSON"),
            "properties": {"type": "object", "properties": props},
            "links": {"type": "array", "items": reference("schemas", "link")},
        }
    })
}

fn errors(codes: &[u16]) -> Map<String, Value> {
    let mut m = Map::new();
    for code in codes {
        let name = match code {
            400 => "InvalidParameter",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            429 => "TooManyRequests",
            500 => "ServerError",
            _ => "Unavailable",
        };
        m.insert(code.to_string(), reference("responses", name));
    }
    m
}

fn ok(description: &str, types: &[(&str, Value)]) -> Value {
    let mut content = Map::new();
    for (t, schema) in types {
        content.insert(t.to_string(), json!({"schema": schema}));
    }
    json!({"description": description, "content": content})
}

fn get(
    tag: &str,
    id: &str,
    summary: &str,
    description: &str,
    parameters: Vec<Value>,
    mut responses: Map<String, Value>,
    ok200: Value,
) -> Value {
    responses.insert("200".into(), ok200);
    json!({"get": {
        "tags": [tag], "operationId": id, "summary": summary, "description": description,
        "parameters": parameters, "responses": responses,
    }})
}

fn html() -> (&'static str, Value) {
    ("text/html", json!({"type": "string"}))
}

/// The document. `version`: the extension's.
pub fn document(links: &Links, collections: &[Collection], max_limit: u64, version: &str) -> Value {
    let ogc_errors = [400, 401, 403, 404, 500, 503];
    let mut paths = Map::new();
    let common = || vec![param("f"), param("token")];
    paths.insert(
        "/".into(),
        get(
            "OGC API – Features",
            "getLandingPage",
            "Landing page",
            "Links to the API definition, the conformance classes and the collections.",
            common(),
            errors(&ogc_errors),
            ok(
                "The landing page",
                &[(JSON, reference("schemas", "landingPage")), html()],
            ),
        ),
    );
    paths.insert(
        "/conformance".into(),
        get(
            "OGC API – Features",
            "getConformance",
            "Conformance classes",
            "The conformance classes this server implements.",
            common(),
            errors(&ogc_errors),
            ok(
                "The conformance classes",
                &[(JSON, reference("schemas", "confClasses")), html()],
            ),
        ),
    );
    paths.insert(
        "/api".into(),
        get(
            "OGC API – Features",
            "getApi",
            "This document",
            "The OpenAPI 3.0 definition (HTML: the interactive documentation).",
            common(),
            errors(&ogc_errors),
            ok(
                "The API definition",
                &[
                    (OPENAPI_JSON, json!({"type": "object"})),
                    (JSON, json!({"type": "object"})),
                    html(),
                ],
            ),
        ),
    );
    paths.insert(
        "/collections".into(),
        get(
            "OGC API – Features",
            "getCollections",
            "The collections",
            "One collection per export the caller may read.",
            common(),
            errors(&ogc_errors),
            ok(
                "The collections",
                &[(JSON, reference("schemas", "collections")), html()],
            ),
        ),
    );
    let mut with_collection = vec![param("collectionId")];
    with_collection.extend(common());
    paths.insert(
        "/collections/{collectionId}".into(),
        get(
            "OGC API – Features",
            "describeCollection",
            "A collection",
            "Extent, CRS list, links to its features.",
            with_collection.clone(),
            errors(&ogc_errors),
            ok("The collection", &[(JSON, reference("schemas", "collection")), html()]),
        ),
    );
    let items_params = |collection: Option<&Collection>| {
        let mut p = vec![];
        if collection.is_none() {
            p.push(param("collectionId"));
        }
        p.extend(["limit", "bbox", "bbox-crs", "datetime", "crs", "cursor", "f", "token"].map(param));
        if let Some(c) = collection {
            for col in c.filterable() {
                p.push(json!({
                    "name": col.name, "in": "query", "required": false,
                    "description": format!("Features whose {} equals this value", col.name),
                    "schema": column_schema(col.kind, &col.sql_type),
                    "style": "form", "explode": false,
                }));
            }
        }
        p
    };
    let items_doc = "Features, by pages of `limit`; follow the `next` link (a keyset cursor) for the next page. \
                     `numberMatched` counts the features matching the filters.";
    paths.insert(
        "/collections/{collectionId}/items".into(),
        get(
            "OGC API – Features",
            "getFeatures",
            "Features of a collection",
            items_doc,
            items_params(None),
            errors(&ogc_errors),
            ok(
                "A page of features",
                &[(GEOJSON, reference("schemas", "featureCollectionGeoJSON")), html()],
            ),
        ),
    );
    let mut item_params = vec![param("collectionId"), param("featureId"), param("crs")];
    item_params.extend(common());
    paths.insert(
        "/collections/{collectionId}/items/{featureId}".into(),
        get(
            "OGC API – Features",
            "getFeature",
            "One feature",
            "The feature whose id is featureId.",
            item_params,
            errors(&ogc_errors),
            ok(
                "The feature",
                &[(GEOJSON, reference("schemas", "featureGeoJSON")), html()],
            ),
        ),
    );
    let mut schemas = base_schemas();
    for c in collections {
        let name = feature_schema_name(c);
        schemas.insert(name.clone(), feature_schema(c));
        let collection_schema = json!({
            "allOf": [reference("schemas", "featureCollectionGeoJSON")],
            "properties": {"features": {"type": "array", "items": reference("schemas", &name)}},
        });
        paths.insert(
            format!("/collections/{}/items", c.id),
            get(
                "Collections",
                &format!("getFeatures_{}", name.trim_start_matches("Feature_")),
                &format!("Features of {}", c.title),
                &format!("{items_doc} {}", c.description.clone().unwrap_or_default()),
                items_params(Some(c)),
                errors(&ogc_errors),
                ok("A page of features", &[(GEOJSON, collection_schema), html()]),
            ),
        );
    }
    geonature_paths(&mut paths, &links.site, max_limit);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "gn_flux node",
            "version": version,
            "description": "The GeoNature export API (as GeoNature's Export module serves it, for gn2pg-client and other \
                            nodes) and OGC API – Features (for QGIS and GDAL), served from PostgreSQL by gn_flux. \
                            Private exports need a login (POST /api/auth/login, or the web login page) or an export token.",
            "license": {"name": "AGPL-3.0-or-later", "url": "https://www.gnu.org/licenses/agpl-3.0.html"},
            "contact": {"name": "gn_flux"},
        },
        "servers": [{"url": links.ogc(), "description": "OGC API – Features"}],
        "tags": [
            {"name": "OGC API – Features", "description": "Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0) and Part 2 (CRS by reference)"},
            {"name": "Collections", "description": "One path per collection, with its property filters"},
            {"name": "GeoNature export API", "description": "GeoNature's Export module routes"},
        ],
        "paths": paths,
        "components": {
            "parameters": parameters(max_limit),
            "schemas": schemas,
            "responses": responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A login token (POST /api/auth/login) or an export token"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key", "description": "An export token"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token", "description": "An export token"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "token", "description": "The login cookie"},
            },
        },
        "security": [{}, {"bearer": []}, {"apiKey": []}, {"queryToken": []}, {"cookie": []}],
    })
}

fn parameters(max_limit: u64) -> Value {
    let crs_desc = "A CRS URI the collection lists in `crs`: http://www.opengis.net/def/crs/OGC/1.3/CRS84 (default), \
                    http://www.opengis.net/def/crs/EPSG/0/4326 (latitude first), EPSG 3857, and the export's own SRID.";
    json!({
        "limit": {"name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
                  "description": format!("Features per page, 1 to {max_limit} (a larger value is read as {max_limit})."),
                  "schema": {"type": "integer", "minimum": 1, "maximum": max_limit, "default": DEFAULT_LIMIT.min(max_limit)}},
        "bbox": {"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                 "description": "minx,miny,maxx,maxy in the axis order of bbox-crs (default CRS84: longitude first). Features intersecting it, and features without geometry.",
                 "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
        "bbox-crs": {"name": "bbox-crs", "in": "query", "required": false, "style": "form", "explode": false,
                     "description": crs_desc, "schema": {"type": "string", "format": "uri"}},
        "crs": {"name": "crs", "in": "query", "required": false, "style": "form", "explode": false,
                "description": crs_desc, "schema": {"type": "string", "format": "uri"}},
        "datetime": {"name": "datetime", "in": "query", "required": false, "style": "form", "explode": false,
                     "description": "An instant or an interval (a/b, .. or empty for an open end), both ends included; a date alone is the whole day. \
                                     Applies to date_min/date_max when the export has both, else to its first date or timestamp column; \
                                     features without a date match.",
                     "schema": {"type": "string"}},
        "cursor": {"name": "cursor", "in": "query", "required": false, "style": "form", "explode": false,
                   "description": "Where the page starts: given by the `next` link of the previous page.",
                   "schema": {"type": "string"}},
        "f": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false,
              "description": "The representation (else chosen by Accept).", "schema": {"type": "string", "enum": ["json", "geojson", "html"]}},
        "token": {"name": "token", "in": "query", "required": false, "style": "form", "explode": false,
                  "description": "An export token (gn_flux.create_api_token), for a private export.", "schema": {"type": "string"}},
        "collectionId": {"name": "collectionId", "in": "path", "required": true, "description": "A collection id (see /collections).",
                         "schema": {"type": "string"}},
        "featureId": {"name": "featureId", "in": "path", "required": true, "description": "A feature id.", "schema": {"type": "string"}},
    })
}

fn responses() -> Value {
    let e = |d: &str| json!({"description": d, "content": {JSON: {"schema": reference("schemas", "exception")}, "text/html": {"schema": {"type": "string"}}}});
    json!({
        "InvalidParameter": e("A query parameter is unknown or has an invalid value."),
        "Unauthorized": e("The export is private: log in or give a token."),
        "Forbidden": e("The caller's role may not read this export, or the token is invalid, expired or for another export."),
        "NotFound": e("No such resource."),
        "MethodNotAllowed": e("The method is not allowed here."),
        "TooManyRequests": e("Too many failed logins."),
        "ServerError": e("A server error (details in the PostgreSQL log)."),
        "Unavailable": e("The query took longer than gn_flux.api_statement_timeout, or the server is at its connection limit."),
    })
}

fn base_schemas() -> Map<String, Value> {
    let link = json!({"type": "object", "required": ["href", "rel"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}}});
    let links = json!({"type": "array", "items": reference("schemas", "link")});
    let m = json!({
        "link": link,
        "exception": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
        "landingPage": {"type": "object", "required": ["links"], "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}},
        "extent": {"type": "object", "properties": {
            "spatial": {"type": "object", "properties": {"bbox": {"type": "array", "items": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}}, "crs": {"type": "string"}}},
            "temporal": {"type": "object", "properties": {"interval": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string", "format": "date-time", "nullable": true}}}, "trs": {"type": "string"}}}}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}, "links": links,
            "extent": reference("schemas", "extent"), "itemType": {"type": "string"},
            "crs": {"type": "array", "items": {"type": "string"}}, "storageCrs": {"type": "string"}}},
        "collections": {"type": "object", "required": ["links", "collections"], "properties": {
            "links": links, "collections": {"type": "array", "items": reference("schemas", "collection")}}},
        "geometryGeoJSON": {"type": "object", "nullable": true, "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"]},
            "coordinates": {"type": "array", "items": {}}, "geometries": {"type": "array", "items": {"type": "object"}}}},
        "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
            "type": {"type": "string", "enum": ["Feature"]}, "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "geometry": reference("schemas", "geometryGeoJSON"), "properties": {"type": "object", "nullable": true}, "links": links}},
        "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": reference("schemas", "featureGeoJSON")},
            "links": links, "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0}, "numberReturned": {"type": "integer", "minimum": 0}}},
        "geonatureError": {"type": "object", "properties": {"code": {"type": "integer"}, "description": {"type": "string"}, "name": {"type": "string"}, "request_id": {"type": "string"}}},
        "exportPage": {"type": "object", "description": "GeoNature's page: flat items, or a FeatureCollection for an export with a geometry_field", "properties": {
            "items": {}, "limit": {"type": "integer"}, "page": {"type": "integer"}, "total": {"type": "integer"}, "total_filtered": {"type": "integer"},
            "licence": {"type": "object", "properties": {"name": {"type": "string"}, "href": {"type": "string"}}}}},
        "login": {"type": "object", "required": ["login", "password"], "properties": {"login": {"type": "string"}, "password": {"type": "string", "format": "password"}},
                  "example": {"login": "reader", "password": "secret"}},
    });
    match m {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The GeoNature-compatible routes, each with the site root as its server.
fn geonature_paths(paths: &mut Map<String, Value>, site: &str, max_limit: u64) {
    let server = json!([{"url": site, "description": "GeoNature-compatible API"}]);
    let gn_err = |codes: &[u16]| {
        let mut m = Map::new();
        for c in codes {
            m.insert(
                c.to_string(),
                json!({"description": gn_protocol::page::reason_phrase(*c),
                "content": {JSON: {"schema": reference("schemas", "geonatureError")}}}),
            );
        }
        m
    };
    let tag = "GeoNature export API";
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "The export id (gn_flux.export.id).", "schema": {"type": "integer"}});
    let q = |name: &str, description: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    let mut entries = vec![
        (
            "/api/gn_commons/modules".to_string(),
            get(
                tag,
                "gnModules",
                "Modules",
                "The Export module entry (needs a login).",
                vec![],
                gn_err(&[401, 403]),
                ok(
                    "The modules",
                    &[(JSON, json!({"type": "array", "items": {"type": "object"}}))],
                ),
            ),
        ),
        (
            "/api/exports/".to_string(),
            get(
                tag,
                "gnExportList",
                "Exports",
                "The exports the caller may read (needs a login).",
                vec![
                    q(
                        "page",
                        "Page number (with per_page: the Pagination shape)",
                        json!({"type": "integer"}),
                    ),
                    q("per_page", "Exports per page", json!({"type": "integer"})),
                    q("search", "Filter on labels (ilike)", json!({"type": "string"})),
                ],
                gn_err(&[401, 403]),
                ok("The exports", &[(JSON, json!({}))]),
            ),
        ),
        (
            "/api/exports/api/{id}".to_string(),
            get(
                tag,
                "gnExportApi",
                "An export page",
                "GeoNature's paginated export API (gn2pg-client reads it).",
                vec![
                    id_param.clone(),
                    q(
                        "limit",
                        &format!("Items per page (at most {max_limit}; 0: every row)"),
                        json!({"type": "integer", "minimum": 0}),
                    ),
                    q(
                        "offset",
                        "Page number, from 0 (GeoNature's name)",
                        json!({"type": "integer", "minimum": 0}),
                    ),
                    q("page", "Page number, from 0", json!({"type": "integer", "minimum": 0})),
                    q("orderby", "column or column:desc", json!({"type": "string"})),
                    q("token", "An export token", json!({"type": "string"})),
                    json!({"name": "filters", "in": "query", "required": false, "style": "form", "explode": true,
                        "description": "GeoNature filters: <column>=value, ilike_<column>, filter_d_{up,lo,eq}_<column>, filter_n_{up,lo}_<column>, geometry (WKT)",
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}}),
                ],
                gn_err(&[400, 401, 403, 404, 503]),
                ok("A page", &[(JSON, reference("schemas", "exportPage"))]),
            ),
        ),
        (
            "/api/exports/{id}/{format}".to_string(),
            get(
                tag,
                "gnExportFile",
                "An export file",
                "The whole export as a file.",
                vec![
                    id_param,
                    json!({"name": "format", "in": "path", "required": true, "schema": {"type": "string", "enum": ["csv", "json", "geojson", "gpkg", "shp", "xlsx"]}}),
                    q("token", "An export token", json!({"type": "string"})),
                ],
                gn_err(&[400, 401, 403, 404, 503]),
                ok(
                    "The file",
                    &[(
                        "application/octet-stream",
                        json!({"type": "string", "format": "binary"}),
                    )],
                ),
            ),
        ),
        (
            "/api/synthese/log".to_string(),
            get(
                tag,
                "gnSyntheseLog",
                "Deletion log",
                "Rows deleted from tracked tables under the exports the caller may read.",
                vec![
                    q("limit", "Entries per page", json!({"type": "integer"})),
                    q("page", "Page number, from 1", json!({"type": "integer"})),
                    q("last_action", "Only D is logged", json!({"type": "string"})),
                    q(
                        "meta_last_action_date",
                        "gte:2024-01-01 (gt, gte, lt, lte, eq)",
                        json!({"type": "string"}),
                    ),
                ],
                gn_err(&[400, 401]),
                ok("A page of the log", &[(JSON, json!({"type": "object"}))]),
            ),
        ),
    ];
    entries.push(("/api/auth/login".into(), json!({"post": {
        "tags": [tag], "operationId": "gnLogin", "summary": "Log in",
        "description": "A PostgreSQL role and its password (SCRAM, MD5 and VALID UNTIL apply). Answers a token and sets the token cookie.",
        "requestBody": {"required": true, "content": {JSON: {"schema": reference("schemas", "login")}}},
        "responses": {
            "200": {"description": "Logged in", "content": {JSON: {"schema": {"type": "object"}}}},
            "400": {"description": "Malformed body", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "401": {"description": "Wrong login or password", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "403": {"description": "A superuser", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "429": {"description": "Too many failures", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
        }
    }})));
    entries.push(("/api/gn_flux/intake/{name}".into(), json!({"post": {
        "tags": [tag], "operationId": "gnFluxIntake", "summary": "Post observations into an intake (API POST)",
        "description": "A JSON array of observations, a GeoJSON FeatureCollection or one Feature, staged and loaded into the Synthese by the intake's declared mapping in one transaction. Each observation carries a uuid: posting it again updates it. A logged-in member of the intake's role (session cookie or bearer login token).",
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {JSON: {"schema": {"oneOf": [
            {"type": "array", "items": {"type": "object"}},
            {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["FeatureCollection", "Feature"]}}}
        ]}}}},
        "responses": {
            "200": {"description": "Every row, accepted (inserted, updated, unchanged) or rejected with its reasons", "content": {JSON: {"schema": {"type": "object"}}}},
            "400": {"description": "Malformed body", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "401": {"description": "Not logged in", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "403": {"description": "Not a member of the intake's role, or an export token", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "404": {"description": "No such intake", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "409": {"description": "The intake is disabled", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
            "413": {"description": "Too many rows, or a body above gn_flux.api_max_post_size", "content": {JSON: {"schema": reference("schemas", "geonatureError")}}},
        }
    }})));
    for (path, mut item) in entries {
        item["servers"] = server.clone();
        paths.insert(path, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_shape() {
        let c = crate::ogc::tests::collection();
        let d = document(&Links::new("http://h", "/gn"), &[c], 1000, "0.2.0");
        assert_eq!(d["openapi"], "3.0.3");
        assert_eq!(d["servers"][0]["url"], "http://h/gn/ogc");
        assert_eq!(d["components"]["parameters"]["limit"]["schema"]["maximum"], 1000);
        assert_eq!(d["components"]["parameters"]["limit"]["schema"]["default"], 10);
        let items = &d["paths"]["/collections/obs/items"]["get"]["parameters"];
        let names: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["id_synthese", "nom_cite", "date_min", "date_max"],
            "json and geometry are not filters"
        );
        assert!(
            d["components"]["schemas"]["Feature_obs"]["properties"]["properties"]["properties"]["extra"].is_object()
        );
        assert_eq!(d["paths"]["/api/exports/api/{id}"]["servers"][0]["url"], "http://h/gn");
        assert!(d["paths"]["/api/auth/login"]["post"]["requestBody"].is_object());
        assert!(d["paths"]["/api/gn_flux/intake/{name}"]["post"]["responses"]["413"].is_object());
    }
}
