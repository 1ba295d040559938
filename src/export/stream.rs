//! Runs a plan: a cursor read in batches on the backend's main thread, rows handed to a writer
//! thread through a bounded channel (so memory stays flat and encoding overlaps reading).

use super::plan::Plan;
use crate::error::{GnFluxError, Kind};
use gn_export::pg_time::{date_from_pg, timestamp_from_pg, PgTime};
use gn_export::{FieldType, Row, Summary, Value};
use pgrx::datum::{Date, Timestamp, TimestampWithTimeZone};
use pgrx::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Rows per cursor fetch and per batch sent to the writer.
const BATCH_ROWS: i64 = 2000;
/// Batches in flight between the reader and the writer.
const BATCHES_IN_FLIGHT: usize = 3;

fn export_error(e: gn_export::ExportError) -> GnFluxError {
    match e {
        gn_export::ExportError::Io(io) => GnFluxError::new(
            Kind::Io,
            format!("could not write the export file: {io}"),
            "Check free space and that the PostgreSQL server's OS user can write to the directory.",
        ),
        gn_export::ExportError::Unsupported(m) | gn_export::ExportError::Geometry(m) => GnFluxError::invalid(
            m,
            "Filter the offending rows out, convert them in the view, or choose another format.",
        ),
        other => GnFluxError::new(
            Kind::Internal,
            other.to_string(),
            "Report this as a gn_flux bug with the view definition.",
        ),
    }
}

/// The writer thread; joining it is how errors and the summary come back.
struct WriterThread {
    sender: Option<SyncSender<Vec<Row>>>,
    /// Batches the writer is done with, sent back so that their cells are freed by the thread
    /// that allocated them: a cell freed by the writer takes the reader's malloc arena lock, and
    /// the two threads then spent about a fifth of the export waiting on it (measured with perf).
    written: Receiver<Vec<Row>>,
    handle: Option<JoinHandle<gn_export::Result<Summary>>>,
    /// Set when the export is abandoned (error, cancel): the writer stops without finishing.
    abandoned: Arc<AtomicBool>,
}

impl WriterThread {
    fn start(plan: &Plan, path: &Path) -> Result<WriterThread, GnFluxError> {
        let mut writer =
            gn_export::create_writer(plan.format, &plan.layout, &plan.options, path).map_err(export_error)?;
        let (sender, receiver) = sync_channel::<Vec<Row>>(BATCHES_IN_FLIGHT);
        let (give_back, written) = sync_channel::<Vec<Row>>(BATCHES_IN_FLIGHT + 1);
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let handle = crate::ffi::spawn_quiet("gn_flux-export", move || -> gn_export::Result<Summary> {
            while let Ok(batch) = receiver.recv() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                writer.write_rows(&batch)?;
                // (the reader may be gone or behind: then this thread frees the batch)
                let _ = give_back.try_send(batch);
            }
            if stop.load(Ordering::Relaxed) {
                // Dropping the writer removes its scratch files; the caller removes the file.
                return Ok(Summary::default());
            }
            writer.finish()
        })
        .map_err(|e| {
            GnFluxError::new(
                Kind::Internal,
                format!("could not start the export writer thread: {e}"),
                "Check the server's process limits.",
            )
        })?;
        Ok(WriterThread {
            sender: Some(sender),
            written,
            handle: Some(handle),
            abandoned,
        })
    }

    /// Hands a batch over; `false` when the writer has stopped (its error comes from `finish`).
    /// Frees the batches the writer has given back.
    fn send(&mut self, batch: Vec<Row>) -> bool {
        while self.written.try_recv().is_ok() {}
        self.sender.as_ref().is_some_and(|s| s.send(batch).is_ok())
    }

    fn finish(mut self) -> Result<Summary, GnFluxError> {
        self.sender = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result.map_err(export_error),
            _ => Err(GnFluxError::new(
                Kind::Internal,
                "the export writer thread panicked",
                "Report this as a gn_flux bug.",
            )),
        }
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        // On an error or a cancel: stop the writer before the caller removes its files.
        self.abandoned.store(true, Ordering::Relaxed);
        self.sender = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A cell as read from SPI, before it joins its row.
enum Cell {
    Value(Value),
    /// A date or timestamp `infinity` or `-infinity`: written as NULL, counted for a NOTICE.
    Infinite,
    /// A finite date or timestamp beyond what the writers can hold, as PostgreSQL prints it.
    OutOfRange(String),
}

fn time_cell<T>(t: PgTime<T>, finite: impl FnOnce(T) -> Value, shown: impl FnOnce() -> String) -> Cell {
    match t {
        PgTime::Finite(v) => Cell::Value(finite(v)),
        PgTime::Infinity | PgTime::NegInfinity => Cell::Infinite,
        PgTime::OutOfRange => Cell::OutOfRange(shown()),
    }
}

fn read_cell(row: &pgrx::spi::SpiHeapTupleData, i: usize, ty: FieldType) -> Result<Cell, GnFluxError> {
    let v = match ty {
        FieldType::Int => row.get::<i64>(i)?.map(Value::Int),
        FieldType::Float => row.get::<f64>(i)?.map(Value::Float),
        FieldType::Numeric => row.get::<String>(i)?.map(Value::Numeric),
        FieldType::Text => row.get::<String>(i)?.map(Value::Text),
        FieldType::Json => row.get::<String>(i)?.map(Value::Json),
        FieldType::Bool => row.get::<bool>(i)?.map(Value::Bool),
        // Vec<u8>, not &[u8]: pgrx copies borrowed varlenas into the statement's memory context.
        FieldType::Geometry => row.get::<Vec<u8>>(i)?.map(Value::Geometry),
        // Dates and timestamps: their text (PostgreSQL's output function) only for an error.
        FieldType::Date => {
            return Ok(row.get::<Date>(i)?.map_or(Cell::Value(Value::Null), |d| {
                time_cell(date_from_pg(d.into_inner()), Value::Date, || d.to_string())
            }))
        }
        FieldType::Timestamp => {
            return Ok(row.get::<Timestamp>(i)?.map_or(Cell::Value(Value::Null), |t| {
                time_cell(timestamp_from_pg(t.into_inner()), Value::Timestamp, || t.to_string())
            }))
        }
        FieldType::TimestampTz => {
            return Ok(row
                .get::<TimestampWithTimeZone>(i)?
                .map_or(Cell::Value(Value::Null), |t| {
                    time_cell(timestamp_from_pg(t.into_inner()), Value::TimestampTz, || t.to_string())
                }))
        }
    };
    Ok(Cell::Value(v.unwrap_or(Value::Null)))
}

/// A date or timestamp the files cannot hold (after 262142 AD; PostgreSQL goes to 5874897 AD for
/// dates, 294276 AD for timestamps). Refused rather than written as NULL or as text: a silently
/// changed value is worse than a stopped export, and no format has a place for such a year.
fn out_of_range(plan: &Plan, field: usize, shown: &str, row: u64, cells: &[Value]) -> GnFluxError {
    let column = &plan.layout.fields[field].name;
    let ident = super::relation::quote(column).unwrap_or_default();
    let key = plan
        .layout
        .pk
        .and_then(|k| Some((&plan.layout.fields.get(k)?.name, cells.get(k)?)))
        .and_then(|(name, v)| match v {
            Value::Int(i) => Some(format!(", {name} = {i}")),
            Value::Text(s) | Value::Numeric(s) => Some(format!(", {name} = {s}")),
            _ => None,
        })
        .unwrap_or_default();
    // 22023 until error.rs has a kind for 22008 (datetime_field_overflow), which would fit better.
    GnFluxError::invalid(
        format!("column \"{column}\" holds {shown}, beyond the dates export files can hold"),
        format!(
            "Correct the value, leave the row out (in the view, or with filters => '{{\"filter_d_lo_{column}\": \"9999-12-31\"}}'), or write the column as text in the view ({ident}::text)."
        ),
    )
    .with_detail(format!(
        "Row {row} of the export{key}. Export files hold dates up to 262142 AD; PostgreSQL's go up to 5874897 AD (294276 AD for timestamps)."
    ))
}

/// Writes every row of the plan to `path`; returns the writer's summary.
///
/// The cursor outlives each batch's SPI connection: closing the connection after every fetch
/// frees that batch's tuples (pgrx never frees SPI tuple tables), so memory stays flat.
pub fn run(plan: &Plan, path: &Path) -> Result<Summary, GnFluxError> {
    let mut writer = WriterThread::start(plan, path)?;
    // Rows read so far, and per field the infinite dates written as NULL.
    let mut rows_read: u64 = 0;
    let mut infinite = vec![0u64; plan.layout.fields.len()];
    let args: Vec<pgrx::datum::DatumWithOid> = plan.params.iter().map(|p| p.as_str().into()).collect();
    let cursor = Spi::connect(|client| -> Result<String, GnFluxError> {
        Ok(client.try_open_cursor(plan.sql.as_str(), &args)?.detach_into_name())
    })?;
    loop {
        pgrx::check_for_interrupts!();
        let batch = Spi::connect(|client| -> Result<Option<Vec<Row>>, GnFluxError> {
            let mut cur = client.find_cursor(&cursor)?;
            let table = cur.fetch(BATCH_ROWS)?;
            if table.is_empty() {
                return Ok(None); // dropping `cur` closes the cursor
            }
            let mut batch = Vec::with_capacity(table.len());
            for row in table {
                rows_read += 1;
                let mut cells = Vec::with_capacity(plan.layout.fields.len());
                let mut beyond = None;
                for (i, field) in plan.layout.fields.iter().enumerate() {
                    cells.push(match read_cell(&row, i + 1, field.ty)? {
                        Cell::Value(v) => v,
                        Cell::Infinite => {
                            infinite[i] += 1;
                            Value::Null
                        }
                        Cell::OutOfRange(shown) => {
                            beyond.get_or_insert((i, shown));
                            Value::Null
                        }
                    });
                }
                if let Some((i, shown)) = beyond {
                    return Err(out_of_range(plan, i, &shown, rows_read, &cells));
                }
                batch.push(cells);
            }
            cur.detach_into_name();
            Ok(Some(batch))
        })?;
        let Some(batch) = batch else { break };
        if !writer.send(batch) {
            // The writer stopped on an error, which finish() reports.
            Spi::connect(|client| client.find_cursor(&cursor).map(drop))?;
            break;
        }
    }
    let mut summary = writer.finish()?;
    for (field, n) in plan.layout.fields.iter().zip(infinite) {
        if n > 0 {
            summary.notices.push(format!(
                "column \"{}\": {n} infinite date{} (infinity or -infinity) written as NULL",
                field.name,
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(summary)
}
