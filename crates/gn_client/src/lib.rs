//! The client side of the GeoNature protocol, for gn_flux's pull pipeline.
//!
//! Pure Rust, no PostgreSQL: the extension runs it on a worker thread ([`spawn_pull`]) and
//! writes the prepared pages from the backend's main thread.
//!
//! - [`Session`]: login with cookies (as gn2pg), one re-login whenever the server says "not
//!   logged in" (401, a redirect to the login page, or a 403 on the export API for a
//!   cookie-authenticated source), module discovery, export pages (`api-key` header for export
//!   tokens), the synthese log; every request retried with exponential backoff, jitter and
//!   `Retry-After`, and cancellable ([`CancelFlag`]).
//! - [`ExportWalk`]: keyset paging on `id_synthese`, with a one-request fallback to page-index
//!   paging when the server ignores the bound; offset paging for the metadata export.
//! - [`prepare_item`]: export items → GN2PG 1.10.1 `data_json`/`metadata_json` rows plus the
//!   geometry as hex EWKB (SRID 4326), and [`page_payload`]/[`metadata_payload`] for set-based
//!   SQL.
//! - [`probe`]: a one-row check that a source can be pulled (for registration).
//! - [`window_start`]/[`advance_watermark`]/[`bound_watermark`]: the incremental window, its
//!   watermark bounded by the server's clock.
//!
//! Secrets (password, tokens) never appear in a URL, an error message or `Debug` output.

pub mod cancel;
pub mod config;
pub mod definition;
pub mod error;
pub mod feed;
pub mod gml;
pub mod pipeline;
pub mod prepare;
pub mod probe;
pub mod retry;
pub mod session;
pub mod walk;
pub mod watermark;

pub use cancel::CancelFlag;
pub use config::{
    SourceConfig, DATA_TYPE_CD_NOMENCLATURE, DATA_TYPE_WITH_METADATA, DEFAULT_MAX_REPLY_BYTES, DEFAULT_MAX_WALK_PASSES,
};
pub use definition::{ClientSettings, DefinitionError, SourceDefinition};
pub use error::{redact_url, ClientError};
pub use feed::{name_uuid, prepare_feed_item, FeedItem, FeedOptions, FeedPage, FeedWalk, KINDS};
pub use pipeline::{prepare_page, spawn_pull, Event, PreparedPage, PullHandle, PullPlan, PullStats, WorkerProbe};
pub use prepare::{
    metadata_export_rows, metadata_payload, page_columns, prepare_item, MetaRow, PageColumns, PreparedItem, LEVEL_AF,
    LEVEL_DATASET,
};
pub use probe::{probe, ProbeReport};
pub use retry::{is_retryable_status, parse_retry_after, sleep_cancellable, RetryPolicy};
pub use session::{FetchedPage, Session, SessionStats};
pub use walk::{ExportWalk, WalkPage};
pub use watermark::{advance_watermark, bound_watermark, window_start};
