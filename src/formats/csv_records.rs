//! CSV records taken one at a time as rows: one `csv::Writer` for a whole
//! export over a reused buffer (quoting is the csv crate's, never ours), with
//! OWASP's CSV-injection guard. Shared by the conversation CSV and
//! `export_query`'s CSV.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use csv::{QuoteStyle, Terminator, Writer, WriterBuilder};

use crate::config::LineEnding;
use crate::pg::interrupts::InterruptBudget;

/// Characters that make a spreadsheet treat a cell as a formula (OWASP), and
/// the full-width forms spreadsheets normalise to them.
const FORMULA_TRIGGERS: &[char] = &['=', '+', '-', '@', '＝', '＋', '－', '＠'];

/// Whether a spreadsheet could evaluate `cell`: it starts with a tab or CR,
/// or its first character past any whitespace, control characters, BOM or
/// zero-width characters is a formula trigger.
fn looks_like_formula(cell: &str) -> bool {
    if cell.starts_with(['\t', '\r']) {
        return true;
    }
    let invisible = |c: &char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '\u{feff}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}'
            )
    };
    cell.chars()
        .find(|c| !invisible(c))
        .is_some_and(|c| FORMULA_TRIGGERS.contains(&c))
}

pub struct CsvRecords {
    writer: Writer<RecordBuffer>,
    buffer: Rc<RefCell<Vec<u8>>>,
    formula_guard: bool,
}

/// The csv writer's output: records are taken out of it one by one. The
/// writer quotes a field through its own small buffer and hands it over
/// in slices, so a huge field reaches here in many writes: the checks for
/// interrupts that quoting it needs are made here.
struct RecordBuffer(Rc<RefCell<Vec<u8>>>, InterruptBudget);

impl io::Write for RecordBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        self.1.spend(bytes.len());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CsvRecords {
    pub fn new(line_ending: LineEnding, formula_guard: bool) -> CsvRecords {
        let terminator = match line_ending {
            LineEnding::Lf => Terminator::Any(b'\n'),
            LineEnding::Crlf => Terminator::CRLF,
        };
        let buffer = Rc::new(RefCell::new(Vec::new()));
        CsvRecords {
            writer: WriterBuilder::new()
                .terminator(terminator)
                .quote_style(QuoteStyle::Necessary)
                .from_writer(RecordBuffer(Rc::clone(&buffer), InterruptBudget::default())),
            buffer,
            formula_guard,
        }
    }

    /// A leading apostrophe makes a formula-looking cell plain text (when guarding).
    pub fn guard<'a>(&self, cell: Cow<'a, str>) -> Cow<'a, str> {
        if self.formula_guard && looks_like_formula(&cell) {
            Cow::Owned(format!("'{cell}"))
        } else {
            cell
        }
    }

    /// Append a cell that has been through `guard` already.
    pub fn write_guarded(&mut self, cell: &str) {
        self.writer
            .write_field(cell.as_bytes())
            .expect("writing to memory cannot fail");
    }

    /// Guard and append a cell.
    pub fn write(&mut self, cell: &str) {
        let guarded = self.guard(Cow::Borrowed(cell));
        self.write_guarded(&guarded);
    }

    /// End the record; it stays in the buffer until `take_row`.
    pub fn end_record(&mut self) {
        self.writer
            .write_record(None::<&[u8]>)
            .expect("writing to memory cannot fail");
    }

    /// The records ended since the last row, as one row without the last
    /// terminator's final "\n" (that is the file's row separator).
    pub fn take_row(&mut self) -> String {
        self.writer.flush().expect("flushing to memory cannot fail");
        let mut bytes = std::mem::take(&mut *self.buffer.borrow_mut());
        bytes.pop();
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }

    /// End the record and take it as a row.
    pub fn take_record(&mut self) -> String {
        self.end_record();
        self.take_row()
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_formula;

    #[test]
    fn guards_what_spreadsheets_evaluate() {
        for cell in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            " =1",
            "\n=1",
            "\u{feff}=1",
            "＝1",
            "＋1",
            "\u{200b}@x",
            "\u{7}=1",
        ] {
            assert!(looks_like_formula(cell), "{cell:?} is not guarded");
        }
        for cell in ["", "plain", "a=b", " text", "1-2", "e-mail"] {
            assert!(!looks_like_formula(cell), "{cell:?} is guarded");
        }
    }
}
