//! [`Table`]: rows of text cells laid out in columns as wide as their widest cell, so no cell
//! is cut and every column lines up. What goes in the cells is the caller's business.

/// How a column's cells sit in its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right, so digits line up.
    Right,
}

/// One line of a table: cells, or a note that spans the whole width.
#[derive(Debug)]
enum Line {
    Cells(Vec<String>),
    Note(String),
}

/// A table collected row by row and rendered once, when every width is known.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    lines: Vec<Line>,
}

/// Spaces between two columns.
const GAP: usize = 2;

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        Self { columns: columns.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(), lines: Vec::new() }
    }

    /// Add a row; missing cells are blank, cells past the last column are dropped.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Cells(cells));
    }

    /// Add a line that is not a row (a scenario that could not run), printed as it is.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for line in &self.lines {
            if let Line::Cells(cells) = line {
                for (w, cell) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        widths
    }

    fn render_cells<'a>(&self, widths: &[usize], cells: impl Iterator<Item = &'a str>) -> String {
        let mut out = String::new();
        let mut cells = cells.fuse();
        for (i, ((_, align), w)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.next().unwrap_or("");
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            if i > 0 {
                out.push_str(&" ".repeat(GAP));
            }
            match align {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&pad);
                }
                Align::Right => {
                    out.push_str(&pad);
                    out.push_str(cell);
                }
            }
        }
        out.trim_end().to_owned()
    }

    /// The header, a rule as wide as the table, and every line.
    pub(crate) fn render(&self) -> String {
        let widths = self.widths();
        let total = widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
        let mut out = self.render_cells(&widths, self.columns.iter().map(|(h, _)| h.as_str()));
        out.push('\n');
        out.push_str(&"─".repeat(total));
        out.push('\n');
        for line in &self.lines {
            match line {
                Line::Cells(cells) => {
                    out.push_str(&self.render_cells(&widths, cells.iter().map(String::as_str)))
                }
                Line::Note(text) => out.push_str(text),
            }
            out.push('\n');
        }
        out
    }

    /// Print [`Table::render`] to stdout.
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }
}

/// Width on a terminal: one column per character (the tables hold no wide or combining ones).
fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::{Align, Table};

    fn sample() -> Table {
        let mut table = Table::new(&[("name", Align::Left), ("fuel", Align::Right), ("result", Align::Left)]);
        table.row(vec!["infinite-loop".into(), "20,000,000".into(), "host/out_of_fuel".into()]);
        table.row(vec!["echo".into(), "1,579".into(), "ok".into()]);
        table
    }

    #[test]
    fn every_column_is_as_wide_as_its_widest_cell_and_cells_line_up() {
        let text = sample().render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name                 fuel  result");
        assert_eq!(lines[2], "infinite-loop  20,000,000  host/out_of_fuel");
        assert_eq!(lines[3], "echo                1,579  ok");
        // The rule spans the full width of the widest row.
        assert_eq!(lines[1].chars().count(), lines[2].chars().count());
    }

    #[test]
    fn headers_wider_than_cells_set_the_width_and_no_line_ends_in_spaces() {
        let mut table = Table::new(&[("a long header", Align::Left), ("n", Align::Right)]);
        table.row(vec!["x".into(), "1".into()]);
        table.row(vec!["y".into()]);
        table.note("y is missing its count");
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "x              1");
        assert_eq!(lines[3], "y");
        assert_eq!(lines[4], "y is missing its count");
        assert!(text.lines().all(|l| !l.ends_with(' ')), "{text}");
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut table = Table::new(&[("what", Align::Left), ("end", Align::Left)]);
        table.row(vec!["closed → open".into(), "x".into()]);
        table.row(vec!["ok".into(), "y".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "ok             y");
    }
}
