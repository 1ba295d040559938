//! Changes to the stand-in's data: what a test asks for and what was done (`/_control/mutate`,
//! and the `mutate` fault action that applies one in the middle of a walk).

use serde::{Deserialize, Serialize};

/// What a mutation request asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MutationRequest {
    #[serde(default)]
    pub insert: u64,
    #[serde(default)]
    pub update: u64,
    #[serde(default)]
    pub delete: u64,
    #[serde(default)]
    pub update_ids: Vec<i64>,
    #[serde(default)]
    pub delete_ids: Vec<i64>,
    /// The `derniere_action` stamped on the changed rows (`YYYY-MM-DD HH:MM:SS`, server local
    /// time); default the server's clock. Lets a test date a row in the future.
    #[serde(default)]
    pub at: Option<String>,
    /// Frameworks and datasets change upstream: their revision becomes this (see
    /// `RowGen::metadata_revision`); the rows of this request carry the new metadata.
    #[serde(default)]
    pub metadata_revision: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MutationResult {
    pub inserted: Vec<i64>,
    pub updated: Vec<i64>,
    pub deleted: Vec<i64>,
    /// The server-clock instant stamped on every changed row.
    pub at: String,
}
