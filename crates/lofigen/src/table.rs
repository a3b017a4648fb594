//! A small table writer for reports and terminal output: rows of cells, each column left- or
//! right-aligned, written as Markdown or as aligned plain text.

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Names and text.
    Left,
    /// Numbers, so that their points line up.
    Right,
}

/// A table with a header row.
#[derive(Clone, Debug)]
pub struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles: the first column left-aligned, the rest right-aligned
    /// (names, then numbers), until [`Self::left`] says otherwise.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        let align = (0..header.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        Self {
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            align,
            rows: Vec::new(),
        }
    }

    /// Left-align the columns `columns` (text rather than numbers).
    pub fn left(mut self, columns: &[usize]) -> Self {
        for &c in columns {
            self.align[c] = Align::Left;
        }
        self
    }

    /// Append a row (one cell per column).
    ///
    /// # Panics
    /// If the row has another number of cells than the header: a programming error.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let row: Vec<String> = cells.into_iter().map(Into::into).collect();
        assert_eq!(row.len(), self.header.len(), "a row per column");
        self.rows.push(row);
    }

    /// The table in Markdown (`|` cells, an alignment row); `|` in a cell is escaped.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let rule: Vec<String> = self
            .align
            .iter()
            .map(|a| match a {
                Align::Left => "---".to_string(),
                Align::Right => "---:".to_string(),
            })
            .collect();
        let mut out = line(&self.header);
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }

    /// The table as plain text, columns padded to their widest cell and two spaces apart.
    pub fn text(&self) -> String {
        let all = || std::iter::once(&self.header).chain(&self.rows);
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| all().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in all() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((cell, &w), a)| match a {
                    Align::Left => format!("{cell:<w$}"),
                    Align::Right => format!("{cell:>w$}"),
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// A number with `prec` decimals, or `-` where there is none (or it is not finite).
pub fn opt(v: Option<f64>, prec: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("-".to_string(), |x| format!("{x:.prec$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_text_align_their_columns() {
        let mut t = Table::new(&["model", "kind", "loss"]).left(&[1]);
        t.row(["seed4", "paper", "0.25"]);
        t.row(["wavenet-small", "a|b", "12.5"]);
        assert_eq!(
            t.markdown(),
            "| model | kind | loss |\n|---|---|---:|\n| seed4 | paper | 0.25 |\n\
             | wavenet-small | a\\|b | 12.5 |\n"
        );
        assert_eq!(
            t.text(),
            "model          kind   loss\nseed4          paper  0.25\nwavenet-small  a|b    12.5\n"
        );
        assert_eq!(opt(None, 2), "-");
        assert_eq!(opt(Some(1.0 / 3.0), 2), "0.33");
    }
}
