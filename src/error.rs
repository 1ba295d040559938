//! The one gn_flux error type, and its mapping to PostgreSQL error reports.
//!
//! Every error carries a message (what is wrong), a detail (the facts; never a secret) and a hint
//! (what to do). The SQLSTATE follows the house rules: bad argument 22023, unknown object 42704,
//! duplicate 42710, insufficient privilege 42501, wrong state 55000, remote failure class 38.
#![allow(dead_code)] // the pull and export features (next releases) use the remaining variants
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum GnFluxError {
    #[error("{message}")]
    InvalidArgument {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    UndefinedObject {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    DuplicateObject {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    InsufficientPrivilege {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    WrongState {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    Remote {
        message: String,
        detail: Option<String>,
        hint: String,
    },
    #[error("{message}")]
    Internal {
        message: String,
        detail: Option<String>,
        hint: String,
    },
}

impl GnFluxError {
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        GnFluxError::InvalidArgument {
            message: message.into(),
            detail: None,
            hint: hint.into(),
        }
    }

    fn parts(&self) -> (PgSqlErrorCode, &str, Option<&str>, &str) {
        use GnFluxError::*;
        use PgSqlErrorCode::*;
        match self {
            InvalidArgument { message, detail, hint } => {
                (ERRCODE_INVALID_PARAMETER_VALUE, message, detail.as_deref(), hint)
            }
            UndefinedObject { message, detail, hint } => (ERRCODE_UNDEFINED_OBJECT, message, detail.as_deref(), hint),
            DuplicateObject { message, detail, hint } => (ERRCODE_DUPLICATE_OBJECT, message, detail.as_deref(), hint),
            InsufficientPrivilege { message, detail, hint } => {
                (ERRCODE_INSUFFICIENT_PRIVILEGE, message, detail.as_deref(), hint)
            }
            WrongState { message, detail, hint } => (
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                message,
                detail.as_deref(),
                hint,
            ),
            Remote { message, detail, hint } => (ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, message, detail.as_deref(), hint),
            Internal { message, detail, hint } => (ERRCODE_INTERNAL_ERROR, message, detail.as_deref(), hint),
        }
    }

    /// Raises the error as a PostgreSQL ERROR (does not return).
    pub fn raise(self) -> ! {
        let (code, message, detail, hint) = self.parts();
        let mut report = ErrorReport::new(code, message.to_string(), "gn_flux").set_hint(hint.to_string());
        if let Some(d) = detail {
            report = report.set_detail(d.to_string());
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}
