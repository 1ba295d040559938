//! When to refresh the planner statistics of data_json (and of gn_synthese.synthese, which the
//! GeoNature load fills) during a run. The per-page statements — ours, and GeoNature's own
//! statement triggers on the Synthese — look rows up by key; on a table whose statistics say it is
//! tiny (a first full pull into new tables) the planner scans it whole for every row, which makes
//! a pull quadratic. So while a run grows the table well past what the statistics say, it runs ANALYZE
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
    /// `ANALYZE` of the key columns only: the lookups need them and the table size; sorting a
    /// sample of jsonb items and geometries would cost more than the page itself.
    analyze: &'static str,
}

impl AnalyzePolicy {
    pub fn new(known: f64, allowed: bool) -> Self {
        AnalyzePolicy {
            known,
            next: 1000,
            allowed,
            analyze: "",
        }
    }

    /// The policy for a table as its statistics stand (only its owner may analyze it).
    fn for_table(table: &'static str, analyze: &'static str) -> Result<AnalyzePolicy, GnFluxError> {
        let (known, owner) = Spi::get_two_with_args::<f64, bool>(
            "SELECT reltuples::float8, pg_catalog.pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1)",
            &[table.into()],
        )?;
        Ok(AnalyzePolicy {
            analyze,
            ..AnalyzePolicy::new(known.unwrap_or(-1.0), owner.unwrap_or(false))
        })
    }

    pub fn for_data_json() -> Result<AnalyzePolicy, GnFluxError> {
        Self::for_table(
            "gn_flux.data_json",
            "ANALYZE gn_flux.data_json (id_data, controler, source, uuid)",
        )
    }

    /// GeoNature's Synthese, filled by the load.
    pub fn for_synthese() -> Result<AnalyzePolicy, GnFluxError> {
        Self::for_table(
            "gn_synthese.synthese",
            "ANALYZE gn_synthese.synthese (id_synthese, unique_id_sinp, id_source)",
        )
    }

    /// Whether to analyze now, `inserted` rows into the run.
    pub fn due(&mut self, inserted: i64) -> bool {
        if !self.allowed || inserted < self.next || (inserted as f64) < self.known.max(0.0) / 2.0 {
            return false;
        }
        self.next = inserted.saturating_mul(4);
        true
    }

    pub fn analyze(&self) -> Result<(), GnFluxError> {
        Spi::run(self.analyze)?;
        Ok(())
    }

    /// ANALYZE now, if this role may (the table's owner).
    pub fn analyze_if_allowed(&self) -> Result<(), GnFluxError> {
        if self.allowed {
            self.analyze()?;
        }
        Ok(())
    }

    /// For writers that see a table grow a little at a time across many transactions (the API
    /// POST intakes): analyze when the rows changed since the last ANALYZE outnumber what the
    /// statistics know (so they stay within a factor 2 of the truth), if allowed.
    pub fn analyze_if_stale(&self, table: &str) -> Result<(), GnFluxError> {
        if !self.allowed {
            return Ok(());
        }
        let stale = Spi::connect(|c| -> Result<bool, GnFluxError> {
            let rows = c.select(
                "SELECT s.n_mod_since_analyze > greatest(1000, c.reltuples)
                   FROM pg_catalog.pg_stat_all_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid
                  WHERE s.relid = pg_catalog.to_regclass($1)",
                None,
                &[table.into()],
            )?;
            Ok(match rows.into_iter().next() {
                Some(r) => r.get::<bool>(1)?.unwrap_or(false),
                None => false,
            })
        })?;
        if stale {
            self.analyze()?;
        }
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
