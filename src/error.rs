//! The one gn_flux error type, and its mapping to PostgreSQL error reports.
//!
//! Every error carries a message (what is wrong), a detail (the facts; never a secret) and a hint
//! (what to do). SQLSTATEs follow the house rules: bad argument 22023, unknown object 42704,
//! wrong state 55000, busy 55P03, remote failure class 38 (not class 08, which drivers read as a
//! lost connection), missing relation 42P01 / column 42703, privileges 42501,
//! too large 54000, file system 58030.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidArgument,
    UndefinedObject,
    WrongState,
    Busy,
    Remote,
    Internal,
    UndefinedTable,
    UndefinedColumn,
    InsufficientPrivilege,
    ProgramLimitExceeded,
    Io,
    /// A value a NOT NULL column needs is missing (a mapping without date_min…).
    NotNullViolation,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GnFluxError {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
    pub hint: String,
}

impl GnFluxError {
    pub fn new(kind: Kind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        GnFluxError {
            kind,
            message: message.into(),
            detail: None,
            hint: hint.into(),
        }
    }

    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Kind::InvalidArgument, message, hint)
    }

    pub fn unknown(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Kind::UndefinedObject, message, hint)
    }

    /// A gn_flux bug.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message, "Report this as a gn_flux bug.")
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self.kind {
            Kind::InvalidArgument => ERRCODE_INVALID_PARAMETER_VALUE,
            Kind::UndefinedObject => ERRCODE_UNDEFINED_OBJECT,
            Kind::WrongState => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Kind::Busy => ERRCODE_LOCK_NOT_AVAILABLE,
            Kind::Remote => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            Kind::Internal => ERRCODE_INTERNAL_ERROR,
            Kind::UndefinedTable => ERRCODE_UNDEFINED_TABLE,
            Kind::UndefinedColumn => ERRCODE_UNDEFINED_COLUMN,
            Kind::InsufficientPrivilege => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Kind::ProgramLimitExceeded => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Kind::Io => ERRCODE_IO_ERROR,
            Kind::NotNullViolation => ERRCODE_NOT_NULL_VIOLATION,
        }
    }

    /// The message with its detail, for logs (import_log.comment).
    pub fn full_text(&self) -> String {
        match &self.detail {
            Some(d) if !d.is_empty() => format!("{} ({d})", self.message),
            _ => self.message.clone(),
        }
    }

    /// Removes every secret from the message, detail and hint.
    pub fn redacted(mut self, r: &Redactor) -> Self {
        self.message = r.redact(&self.message);
        self.detail = self.detail.map(|d| r.redact(&d));
        self.hint = r.redact(&self.hint);
        self
    }

    /// The PostgreSQL error report of this error: SQLSTATE, message, DETAIL, HINT.
    pub fn report(&self) -> ErrorReport {
        let mut report = ErrorReport::new(self.sqlstate(), self.message.clone(), "gn_flux").set_hint(self.hint.clone());
        if let Some(d) = &self.detail {
            report = report.set_detail(d.clone());
        }
        report
    }
}

/// What SQL-facing functions return: pgrx raises an `Err` as an ERROR with its SQLSTATE, DETAIL
/// and HINT. This conversion is the one place where a gn_flux error becomes a PostgreSQL error.
pub type SqlResult<T> = Result<T, ErrorReport>;

impl From<GnFluxError> for ErrorReport {
    fn from(e: GnFluxError) -> Self {
        e.report()
    }
}

impl From<pgrx::spi::SpiError> for GnFluxError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        GnFluxError::new(
            Kind::Internal,
            format!("gn_flux internal query failed: {e}"),
            "Report this as a gn_flux bug.",
        )
    }
}

/// Masks secrets (passwords, tokens) in any text before it reaches a log table, a message or a
/// NOTICE.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 3)
            .map(str::to_string)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "********");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_masks_every_secret() {
        let r = Redactor::new([Some("s3cret"), None, Some("tok-123456")]);
        assert_eq!(
            r.redact("login failed with s3cret and tok-123456"),
            "login failed with ******** and ********"
        );
    }
}
