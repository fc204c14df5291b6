//! Reading TOML files (manifests, `symphony.toml`) into typed structs with errors that name the
//! file, the line and column, and the field path. Unknown fields are rejected by the structs
//! themselves (`deny_unknown_fields`); this file only turns every failure into a
//! [`ConfigFileError`] that points at the place to fix.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A TOML file that could not be read or did not match its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigFileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column of the problem, when known.
    pub column: Option<usize>,
    /// Dotted path of the field at fault (`limits.memory_bytes`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigFileError {
    /// An error about the file as a whole (unreadable, missing).
    #[must_use]
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), line: None, column: None, field: None, message: message.into() }
    }

    /// An error about one field, located by searching the file text for the field's key.
    #[must_use]
    pub fn at_field(path: &Path, text: &str, field: &str, message: impl Into<String>) -> Self {
        let key = field.rsplit('.').next().unwrap_or(field);
        let offset = find_key(text, key);
        let (line, column) = offset.map(|o| line_column(text, o)).unzip();
        Self {
            path: path.to_path_buf(),
            line,
            column,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    fn render(&self) -> String {
        let mut out = self.path.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                out.push_str(&format!(":{column}"));
            }
        }
        out.push_str(": ");
        if let Some(field) = &self.field {
            out.push_str(&format!("field `{field}`: "));
        }
        out.push_str(&self.message);
        out
    }
}

/// Read and parse `path` as `T`.
///
/// # Errors
/// [`ConfigFileError`] naming the file, and the line, column and field when the content is at fault.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigFileError::whole_file(path, format!("cannot read: {e}")))?;
    parse_toml(path, &text)
}

/// Parse `text` (the content of `path`) as `T`.
///
/// # Errors
/// [`ConfigFileError`] with line, column and field path of the first problem.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigFileError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| from_toml(path, text, &e, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = (!field.is_empty() && field != ".").then_some(field);
        from_toml(path, text, e.inner(), field)
    })
}

fn from_toml(path: &Path, text: &str, err: &toml::de::Error, field: Option<String>) -> ConfigFileError {
    let located = err.span().map(|span| line_column(text, span.start));
    let (line, column) = match (located, &field) {
        (Some(lc), _) => (Some(lc.0), Some(lc.1)),
        (None, Some(field)) => {
            let key = field.rsplit('.').next().unwrap_or(field);
            find_key(text, key).map(|o| line_column(text, o)).unzip()
        }
        (None, None) => (None, None),
    };
    ConfigFileError {
        path: path.to_path_buf(),
        line,
        column,
        field,
        message: err.message().trim().to_owned(),
    }
}

/// Byte offset of the first line that assigns `key` (`key =` at the start of a line).
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        size: u64,
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let text = "name = \"x\"\n\n[inner]\nsize = \"big\"\n";
        let err = parse_toml::<Doc>(Path::new("m.toml"), text).err();
        let err = err.as_ref().map(|e| (e.line, e.field.as_deref()));
        assert_eq!(err, Some((Some(4), Some("inner.size"))));
    }

    #[test]
    fn unknown_field_is_rejected_with_its_line() {
        let text = "name = \"x\"\ncolour = 3\n";
        let err = parse_toml::<Doc>(Path::new("m.toml"), text).err();
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(2));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let text = "name = \"x\"\n[inner\n";
        let err = parse_toml::<Doc>(Path::new("m.toml"), text).err();
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(2));
    }
}
