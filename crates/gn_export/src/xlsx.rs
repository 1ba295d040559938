//! XLSX with constant memory (rust_xlsxwriter writes each row out as it goes): one sheet with a
//! header row, typed cells (numbers, booleans, dates), geometry as WKT. When a sheet is full
//! (1,048,576 rows in Excel) the rows continue on a new sheet with the same header.

use crate::{text, ExportError, Format, Layout, Options, Result, Row, RowWriter, Summary, Value};
use chrono::Datelike;
use rust_xlsxwriter::{Format as CellFormat, Workbook};
use std::path::{Path, PathBuf};

/// Excel's row limit minus the header row.
pub(crate) const MAX_DATA_ROWS: u32 = 1_048_575;
/// Excel's cell text limit, in characters.
const MAX_CELL_CHARS: usize = 32_767;

pub(crate) struct XlsxWriter {
    workbook: Workbook,
    path: PathBuf,
    headers: Vec<String>,
    base_name: String,
    rows_per_sheet: u32,
    sheet: usize,
    row_in_sheet: u32,
    date: CellFormat,
    datetime: CellFormat,
    header: CellFormat,
    rows: u64,
    truncated: u64,
    scratch: String,
}

fn xlsx_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::writer(Format::Xlsx, e)
}

/// Sheet names: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(base: &str, index: usize) -> String {
    let clean: String = base
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .collect();
    let suffix = if index == 0 {
        String::new()
    } else {
        format!(" ({})", index + 1)
    };
    let keep = 31 - suffix.chars().count();
    let mut name: String = clean.chars().take(keep).collect();
    let trimmed = name.trim_matches('\'').to_string();
    name = if trimmed.is_empty() {
        "export".to_string()
    } else {
        trimmed
    };
    name + &suffix
}

impl XlsxWriter {
    pub(crate) fn create(layout: &Layout, options: &Options, path: &Path) -> Result<Self> {
        let mut writer = XlsxWriter {
            workbook: Workbook::new(),
            path: path.to_path_buf(),
            headers: layout.fields.iter().map(|f| f.name.clone()).collect(),
            base_name: layout.name.clone(),
            rows_per_sheet: options.xlsx_rows_per_sheet.clamp(1, MAX_DATA_ROWS),
            sheet: 0,
            row_in_sheet: 0,
            date: CellFormat::new().set_num_format("yyyy-mm-dd"),
            datetime: CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            header: CellFormat::new().set_bold(),
            rows: 0,
            truncated: 0,
            scratch: String::new(),
        };
        if let Some(dir) = path.parent() {
            writer.workbook.set_tempdir(dir).map_err(xlsx_error)?;
        }
        writer.new_sheet(0)?;
        Ok(writer)
    }

    fn new_sheet(&mut self, index: usize) -> Result<()> {
        let name = sheet_name(&self.base_name, index);
        let sheet = self.workbook.add_worksheet_with_constant_memory();
        sheet.set_name(name).map_err(xlsx_error)?;
        for (col, h) in self.headers.iter().enumerate() {
            sheet
                .write_string_with_format(0, col as u16, h, &self.header)
                .map_err(xlsx_error)?;
        }
        self.sheet = index;
        self.row_in_sheet = 0;
        Ok(())
    }
}

impl RowWriter for XlsxWriter {
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        for row in rows {
            if self.row_in_sheet == self.rows_per_sheet {
                self.new_sheet(self.sheet + 1)?;
            }
            let r = self.row_in_sheet + 1;
            let sheet = self.workbook.worksheet_from_index(self.sheet).map_err(xlsx_error)?;
            for (c, value) in row.iter().enumerate() {
                let c = c as u16;
                let written = match value {
                    Value::Null => continue,
                    Value::Bool(b) => sheet.write_boolean(r, c, *b),
                    Value::Int(i) => sheet.write_number(r, c, *i as f64),
                    Value::Float(f) if f.is_finite() => sheet.write_number(r, c, *f),
                    Value::Numeric(s) => match text::finite_number(s) {
                        Some(f) => sheet.write_number(r, c, f),
                        None => sheet.write_string(r, c, s),
                    },
                    Value::Date(d) if (1900..=9999).contains(&d.year()) => {
                        sheet.write_date_with_format(r, c, d, &self.date)
                    }
                    Value::Timestamp(ts) | Value::TimestampTz(ts) if (1900..=9999).contains(&ts.year()) => {
                        sheet.write_datetime_with_format(r, c, ts, &self.datetime)
                    }
                    other => {
                        self.scratch.clear();
                        text::cell_text(other, &mut self.scratch)?;
                        if self.scratch.chars().count() > MAX_CELL_CHARS {
                            let cut = self
                                .scratch
                                .char_indices()
                                .nth(MAX_CELL_CHARS)
                                .map_or(self.scratch.len(), |(i, _)| i);
                            self.scratch.truncate(cut);
                            self.truncated += 1;
                        }
                        sheet.write_string(r, c, &self.scratch)
                    }
                };
                written.map_err(xlsx_error)?;
            }
            self.row_in_sheet += 1;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Summary> {
        let mut this = *self;
        this.workbook.save(&this.path).map_err(xlsx_error)?;
        let mut notices = Vec::new();
        if this.truncated > 0 {
            notices.push(format!(
                "xlsx: {} value(s) longer than Excel's {MAX_CELL_CHARS}-character cell limit were truncated",
                this.truncated
            ));
        }
        if this.sheet > 0 {
            notices.push(format!(
                "xlsx: {} rows continue over {} sheets ({} data rows per sheet)",
                this.rows,
                this.sheet + 1,
                this.rows_per_sheet
            ));
        }
        Ok(Summary {
            rows: this.rows,
            notices,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sheet_names_fit_excel() {
        assert_eq!(super::sheet_name("v_synthese", 0), "v_synthese");
        assert_eq!(super::sheet_name("a[b]:c", 1), "a_b__c (2)");
        assert_eq!(super::sheet_name(&"x".repeat(40), 12).chars().count(), 31);
    }
}
