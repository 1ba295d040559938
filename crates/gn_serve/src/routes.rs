//! The GeoNature-compatible routes, under a configurable root (default `/geonature`).
//!
//! | Route | Method | Path under the root |
//! |---|---|---|
//! | [`Route::Modules`] | GET | `/api/gn_commons/modules` |
//! | [`Route::ExportList`] | GET | `/api/exports/` |
//! | [`Route::ExportApi`] | GET | `/api/exports/api/<id>` |
//! | [`Route::ExportFile`] | GET | `/api/exports/<id>/<format>` |
//! | [`Route::SyntheseLog`] | GET | `/api/synthese/log` |
//! | [`Route::Login`] | POST | `/api/auth/login` |
//!
//! Besides them: OGC API – Features under `/ogc` ([`Route::Ogc`], see [`crate::ogc`]) and the web
//! pages ([`Route::Page`]: `/catalogue`, `/dashboard`, `/login`, `/logout`, `/docs`, `/assets/…`;
//! the root itself leads to the catalogue).
//!
//! GET routes answer HEAD too (as Werkzeug does). Another path: 404; another method: 405 with
//! `Allow`. `<id>` is Werkzeug's `int` converter (digits only), as a PostgreSQL `integer`.

use crate::error::ServeError;
use crate::http::Method;

/// Default root path, as GeoNature is usually mounted.
pub const DEFAULT_ROOT: &str = "/geonature";

/// Path of the Export module (`module_path` of the EXPORTS module entry).
pub const EXPORTS_MODULE_PATH: &str = "exports";

/// The file formats of `GET /api/exports/<id>/<format>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Json,
    Geojson,
    Gpkg,
    Shp,
    Xlsx,
}

impl FileFormat {
    pub const ALL: [FileFormat; 6] = [
        FileFormat::Csv,
        FileFormat::Json,
        FileFormat::Geojson,
        FileFormat::Gpkg,
        FileFormat::Shp,
        FileFormat::Xlsx,
    ];

    pub fn parse(s: &str) -> Option<FileFormat> {
        FileFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
            FileFormat::Geojson => "geojson",
            FileFormat::Gpkg => "gpkg",
            FileFormat::Shp => "shp",
            FileFormat::Xlsx => "xlsx",
        }
    }

    /// The file name extension of the download (a shapefile comes zipped).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Shp => "zip",
            f => f.as_str(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::Json => "application/json",
            FileFormat::Geojson => "application/geo+json",
            FileFormat::Gpkg => "application/geopackage+sqlite3",
            FileFormat::Shp => "application/zip",
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// Whether the export needs a geometry field for this format (as GeoNature requires for
    /// geojson and gpkg).
    pub fn needs_geometry(self) -> bool {
        matches!(self, FileFormat::Geojson | FileFormat::Gpkg | FileFormat::Shp)
    }
}

/// The web pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRoute {
    /// The root: a redirect to the catalogue.
    Home,
    Catalogue,
    Dashboard,
    LoginForm,
    LoginSubmit,
    Logout,
    TokenCreate,
    TokenRevoke,
    /// The interactive API documentation.
    Docs,
    Asset(Asset),
}

/// Static files compiled into the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Style,
    DocsScript,
}

impl Asset {
    pub fn body(self) -> &'static str {
        match self {
            Asset::Style => include_str!("../assets/style.css"),
            Asset::DocsScript => include_str!("../assets/docs.js"),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Asset::Style => "text/css; charset=utf-8",
            Asset::DocsScript => "text/javascript; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ogc(crate::ogc::OgcRoute),
    Page(PageRoute),
    Modules,
    ExportList,
    ExportApi {
        id: i32,
    },
    ExportFile {
        id: i32,
        format: FileFormat,
    },
    SyntheseLog,
    Login,
    /// API POST: observations into a named intake (a source of kind `post`).
    Intake {
        name: String,
    },
}

impl Route {
    /// A stable name for the access log.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Modules => "modules",
            Route::ExportList => "exports",
            Route::ExportApi { .. } => "export_api",
            Route::ExportFile { .. } => "export_file",
            Route::SyntheseLog => "synthese_log",
            Route::Login => "login",
            Route::Intake { .. } => "intake",
            Route::Ogc(r) => r.name(),
            Route::Page(p) => match p {
                PageRoute::Home => "page_home",
                PageRoute::Catalogue => "page_catalogue",
                PageRoute::Dashboard => "page_dashboard",
                PageRoute::LoginForm | PageRoute::LoginSubmit => "page_login",
                PageRoute::Logout => "page_logout",
                PageRoute::TokenCreate | PageRoute::TokenRevoke => "page_tokens",
                PageRoute::Docs => "page_docs",
                PageRoute::Asset(_) => "asset",
            },
        }
    }

    /// The export a route reads, if any.
    pub fn export_id(&self) -> Option<i32> {
        match self {
            Route::ExportApi { id } | Route::ExportFile { id, .. } => Some(*id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Normalised root: empty, or `/segment[/segment…]` without a trailing slash.
    root: String,
}

impl Default for Router {
    fn default() -> Router {
        Router {
            root: DEFAULT_ROOT.into(),
        }
    }
}

/// Werkzeug's `int` converter: ASCII digits only, as a PostgreSQL `integer`.
fn parse_id(s: &str) -> Option<i32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Router {
    /// `root`: `""` or `/` for none, otherwise a path such as `/geonature` (a trailing slash is
    /// dropped). Refused: a root that does not start with `/`, or holds `?`, `#`, `//` or
    /// whitespace.
    pub fn new(root: &str) -> Result<Router, String> {
        let trimmed = root.trim_end_matches('/');
        if !trimmed.is_empty()
            && (!trimmed.starts_with('/')
                || trimmed.contains("//")
                || trimmed.contains(['?', '#'])
                || trimmed.chars().any(char::is_whitespace))
        {
            return Err(format!(
                "invalid root path {root:?}: expected \"\" or a path such as \"/geonature\""
            ));
        }
        Ok(Router {
            root: trimmed.to_string(),
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// Routes a decoded path.
    pub fn route(&self, method: &Method, path: &str) -> Result<Route, ServeError> {
        let rest = path
            .strip_prefix(self.root.as_str())
            .ok_or_else(ServeError::not_found)?;
        if !rest.starts_with('/') {
            return Err(ServeError::not_found());
        }
        let segments: Vec<&str> = rest[1..].split('/').collect();
        if segments[0] == "ogc" {
            let route = crate::ogc::OgcRoute::parse(&segments[1..]).ok_or_else(ServeError::not_found)?;
            crate::ogc::check_method(method)?;
            return Ok(Route::Ogc(route));
        }
        let page = match segments.as_slice() {
            [""] => Some((PageRoute::Home, false)),
            ["catalogue"] => Some((PageRoute::Catalogue, false)),
            ["dashboard"] => Some((PageRoute::Dashboard, false)),
            ["docs"] => Some((PageRoute::Docs, false)),
            ["login"] if *method == Method::Post => Some((PageRoute::LoginSubmit, true)),
            ["login"] => Some((PageRoute::LoginForm, false)),
            ["logout"] => Some((PageRoute::Logout, true)),
            ["catalogue", "tokens"] => Some((PageRoute::TokenCreate, true)),
            ["catalogue", "tokens", "revoke"] => Some((PageRoute::TokenRevoke, true)),
            ["assets", "style.css"] => Some((PageRoute::Asset(Asset::Style), false)),
            ["assets", "docs.js"] => Some((PageRoute::Asset(Asset::DocsScript), false)),
            _ => None,
        };
        if let Some((page, post)) = page {
            return match (post, method) {
                (false, Method::Get | Method::Head) | (true, Method::Post) => Ok(Route::Page(page)),
                (false, _) if page == PageRoute::LoginForm => Err(ServeError::method_not_allowed("GET, HEAD, POST")),
                (false, _) => Err(ServeError::method_not_allowed("GET, HEAD")),
                (true, _) => Err(ServeError::method_not_allowed("POST")),
            };
        }
        let (route, post) = match segments.as_slice() {
            ["api", "gn_commons", "modules"] => (Route::Modules, false),
            ["api", "exports"] | ["api", "exports", ""] => (Route::ExportList, false),
            ["api", "exports", "api", id] => (
                Route::ExportApi {
                    id: parse_id(id).ok_or_else(ServeError::not_found)?,
                },
                false,
            ),
            ["api", "exports", id, format] if parse_id(id).is_some() => {
                let id = parse_id(id).ok_or_else(ServeError::not_found)?;
                let format = FileFormat::parse(format).ok_or_else(|| {
                    ServeError::new(
                        404,
                        format!("Unknown export format {format:?}: use csv, json, geojson, gpkg, shp or xlsx"),
                    )
                })?;
                (Route::ExportFile { id, format }, false)
            }
            ["api", "synthese", "log"] => (Route::SyntheseLog, false),
            ["api", "auth", "login"] => (Route::Login, true),
            ["api", "gn_flux", "intake", name] if !name.is_empty() => (
                Route::Intake {
                    name: (*name).to_string(),
                },
                true,
            ),
            _ => return Err(ServeError::not_found()),
        };
        match (post, method) {
            (false, Method::Get | Method::Head) | (true, Method::Post) => Ok(route),
            (false, _) => Err(ServeError::method_not_allowed("GET, HEAD")),
            (true, _) => Err(ServeError::method_not_allowed("POST")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(r: &Router, p: &str) -> Result<Route, u16> {
        r.route(&Method::Get, p).map_err(|e| e.status)
    }

    #[test]
    fn routes_under_the_default_root() {
        let r = Router::default();
        assert_eq!(get(&r, "/geonature/api/gn_commons/modules"), Ok(Route::Modules));
        assert_eq!(get(&r, "/geonature/api/exports/"), Ok(Route::ExportList));
        assert_eq!(get(&r, "/geonature/api/exports"), Ok(Route::ExportList));
        assert_eq!(
            get(&r, "/geonature/api/exports/api/12"),
            Ok(Route::ExportApi { id: 12 })
        );
        assert_eq!(get(&r, "/geonature/api/synthese/log"), Ok(Route::SyntheseLog));
        for f in FileFormat::ALL {
            assert_eq!(
                get(&r, &format!("/geonature/api/exports/3/{}", f.as_str())),
                Ok(Route::ExportFile { id: 3, format: f })
            );
        }
        assert_eq!(r.route(&Method::Post, "/geonature/api/auth/login"), Ok(Route::Login));
        assert_eq!(
            r.route(&Method::Head, "/geonature/api/exports/api/1"),
            Ok(Route::ExportApi { id: 1 })
        );
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let r = Router::default();
        for p in [
            "/api/exports/api/1",
            "/geonaturex/api/exports/api/1",
            "/geonature/ogc/collections/a/b",
            "/geonature/api/exports/api/",
            "/geonature/api/exports/api/-1",
            "/geonature/api/exports/api/1x",
            "/geonature/api/exports/api/99999999999",
            "/geonature/api/exports/api/1/",
            "/geonature/api/exports/3/pdf",
            "/geonature/api/exports/x/csv",
            "/geonature/api/synthese/log/",
            "*",
        ] {
            assert_eq!(get(&r, p), Err(404), "{p}");
        }
        let e = r.route(&Method::Get, "/geonature/api/auth/login").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("POST")));
        let e = r.route(&Method::Post, "/geonature/api/exports/api/1").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("GET, HEAD")));
        let e = r.route(&Method::Delete, "/geonature/api/nope").unwrap_err();
        assert_eq!(e.status, 404, "an unknown path is 404 whatever the method");
        assert_eq!(get(&r, "/geonature/"), Ok(Route::Page(PageRoute::Home)));
        assert_eq!(get(&r, "/geonature"), Err(404));
        assert_eq!(
            r.route(&Method::Post, "/geonature/login"),
            Ok(Route::Page(PageRoute::LoginSubmit))
        );
        assert_eq!(get(&r, "/geonature/login"), Ok(Route::Page(PageRoute::LoginForm)));
        assert_eq!(r.route(&Method::Get, "/geonature/logout").unwrap_err().status, 405);
        assert_eq!(
            get(&r, "/geonature/ogc/collections/x/items"),
            Ok(Route::Ogc(crate::ogc::OgcRoute::Items("x".into())))
        );
        assert_eq!(
            r.route(&Method::Options, "/geonature/ogc/collections")
                .map(|r| r.name()),
            Ok("ogc_collections")
        );
        assert_eq!(
            r.route(&Method::Post, "/geonature/ogc/collections").unwrap_err().status,
            405
        );
        assert!(Asset::Style.body().contains('{') && Asset::DocsScript.body().contains("function"));
        let e = r.route(&Method::Get, "/geonature/api/exports/3/pdf").unwrap_err();
        assert!(e.message.contains("pdf"), "{}", e.message);
    }

    #[test]
    fn configurable_root() {
        let r = Router::new("/").unwrap();
        assert_eq!(r.root(), "");
        assert_eq!(get(&r, "/api/exports/api/1"), Ok(Route::ExportApi { id: 1 }));
        let r = Router::new("/gn/v2/").unwrap();
        assert_eq!(get(&r, "/gn/v2/api/synthese/log"), Ok(Route::SyntheseLog));
        assert_eq!(get(&r, "/gn/v2api/synthese/log"), Err(404));
        for bad in ["geonature", "/a//b", "/a?b", "/a b"] {
            assert!(Router::new(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Route::ExportFile {
                id: 4,
                format: FileFormat::Csv
            }
            .export_id(),
            Some(4)
        );
        assert_eq!(FileFormat::Shp.extension(), "zip");
        assert!(FileFormat::Gpkg.needs_geometry() && !FileFormat::Xlsx.needs_geometry());
    }
}
