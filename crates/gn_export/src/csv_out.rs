//! CSV as GeoNature's Export module writes it: header, every field quoted, `\r\n`, UTF-8 without
//! BOM, geometry as WKT; the separator is configurable (GeoNature's is `;`).

use crate::{text, ExportError, Format, Layout, Options, Result, Row, RowWriter, Summary};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub(crate) struct CsvWriter {
    out: csv::Writer<BufWriter<File>>,
    rows: u64,
    cell: String,
}

fn csv_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::writer(Format::Csv, e)
}

impl CsvWriter {
    pub(crate) fn create(layout: &Layout, options: &Options, path: &Path) -> Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let mut out = csv::WriterBuilder::new()
            .delimiter(options.csv_separator)
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .from_writer(file);
        out.write_record(layout.fields.iter().map(|f| f.name.as_str()))
            .map_err(csv_error)?;
        Ok(CsvWriter {
            out,
            rows: 0,
            cell: String::new(),
        })
    }
}

impl RowWriter for CsvWriter {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        for row in rows {
            for value in row {
                self.cell.clear();
                text::cell_text(value, &mut self.cell)?;
                self.out.write_field(&self.cell).map_err(csv_error)?;
            }
            self.out.write_record(None::<&[u8]>).map_err(csv_error)?;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Summary> {
        let this = *self;
        let file = this
            .out
            .into_inner()
            .map_err(|e| csv_error(e.error()))?
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?;
        drop(file);
        Ok(Summary {
            rows: this.rows,
            notices: Vec::new(),
        })
    }
}
