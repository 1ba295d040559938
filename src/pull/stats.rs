//! When to refresh the planner statistics of data_json during a run. The per-page statement
//! looks rows up by key; on a table PostgreSQL has never analyzed (a first full pull into new
//! tables) the planner assumes it is tiny and scans it whole for every item, which makes a pull
//! quadratic. So while a run grows the table well past what the statistics say, it runs ANALYZE
//! at 1,000, 4,000, 16,000 … rows inserted (each ANALYZE samples at most 30,000 rows and costs
//! up to half a second on a large table, hence growth by 4 rather than 2: plans stay right while
//! the statistics are within a factor 4 of the truth).
use crate::error::GnFluxError;
use pgrx::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct AnalyzePolicy {
    /// Row count the statistics know about (pg_class.reltuples; negative = never analyzed).
    known: f64,
    next: i64,
    allowed: bool,
}

impl AnalyzePolicy {
    pub fn new(known: f64, allowed: bool) -> Self {
        AnalyzePolicy {
            known,
            next: 1000,
            allowed,
        }
    }

    /// The policy for gn_flux.data_json as its statistics stand (only its owner may analyze it).
    pub fn for_data_json() -> Result<AnalyzePolicy, GnFluxError> {
        let (known, owner) = Spi::get_two::<f64, bool>(
            "SELECT reltuples::float8, pg_catalog.pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class WHERE oid = 'gn_flux.data_json'::regclass",
        )?;
        Ok(AnalyzePolicy::new(known.unwrap_or(-1.0), owner.unwrap_or(false)))
    }

    /// Whether to analyze now, `inserted` rows into the run.
    pub fn due(&mut self, inserted: i64) -> bool {
        if !self.allowed || inserted < self.next || (inserted as f64) < self.known.max(0.0) / 2.0 {
            return false;
        }
        self.next = inserted.saturating_mul(4);
        true
    }

    /// ANALYZE of the key columns only: the lookups need them and the table size; sorting a
    /// sample of jsonb items and geometries would cost more than the page itself.
    pub fn analyze() -> Result<(), GnFluxError> {
        Spi::run("ANALYZE gn_flux.data_json (id_data, controler, source, uuid)")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::AnalyzePolicy;

    #[test]
    fn analyze_while_the_table_outgrows_its_statistics() {
        let mut p = AnalyzePolicy::new(-1.0, true);
        let due: Vec<i64> = (1..=100).map(|page| page * 1000).filter(|n| p.due(*n)).collect();
        assert_eq!(due, vec![1000, 4000, 16000, 64000]);
        // statistics that already know a large table: no ANALYZE for a small update
        let mut p = AnalyzePolicy::new(1_000_000.0, true);
        assert!(!(1..=20).any(|page| p.due(page * 1000)));
        // not the owner: never
        let mut p = AnalyzePolicy::new(-1.0, false);
        assert!(!p.due(5000));
    }
}
