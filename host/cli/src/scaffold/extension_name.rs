//! [`ExtensionName`]: a name `symphony new` accepts, valid at once as an extension name in
//! `extension.toml` (lowercase letters, digits, `-`), a cargo package name and, with `-` turned
//! into `_`, a Rust crate name. What the manifest itself accepts is the manifest's business; this
//! is the stricter rule for names the scaffold is about to put in all three places.

use std::fmt;

/// Longest name accepted, in characters (cargo's own limit for package names is 64).
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// Names cargo refuses for a package or that collide with the toolchain: Rust keywords, the
/// built-in crates, directories cargo owns in a target dir, and Windows device names.
const RESERVED: &[&str] = &[
    // Rust keywords (strict and reserved), as crate names after `-` → `_`.
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    // Built-in crates.
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    // Directories of a cargo target dir.
    "build",
    "deps",
    "examples",
    "incremental",
    // Windows device names.
    "aux",
    "con",
    "nul",
    "prn",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NameProblem {
    /// The name is empty.
    #[error("the name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Does not start with a lowercase ASCII letter.
    #[error("it must start with a lowercase letter")]
    BadStart,
    /// Holds a character other than `a-z`, `0-9` and `-`.
    #[error("`{0}` is not allowed: use lowercase letters, digits and `-`")]
    BadCharacter(char),
    /// Ends with `-` or holds `--`.
    #[error("`-` must separate words: not at the end, not twice in a row")]
    BadHyphen,
    /// A Rust keyword, a built-in crate or another name cargo refuses.
    #[error("it is reserved (a Rust keyword, a built-in crate or a name cargo refuses)")]
    Reserved,
}

/// A validated name for a new extension crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionName(String);

impl ExtensionName {
    /// Validate `name`.
    ///
    /// # Errors
    /// The first [`NameProblem`] found.
    pub(crate) fn parse(name: &str) -> Result<Self, NameProblem> {
        let first = name.chars().next().ok_or(NameProblem::Empty)?;
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(NameProblem::TooLong);
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameProblem::BadCharacter(bad));
        }
        if !first.is_ascii_lowercase() {
            return Err(NameProblem::BadStart);
        }
        if name.ends_with('-') || name.contains("--") {
            return Err(NameProblem::BadHyphen);
        }
        if RESERVED.contains(&name.replace('-', "_").as_str()) {
            return Err(NameProblem::Reserved);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written (`text-stats`).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a Rust type (`text-stats` → `TextStats`).
    pub(crate) fn type_name(&self) -> String {
        self.0
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect()
    }
}

impl fmt::Display for ExtensionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_words_and_digits() {
        for name in ["hello", "text-stats", "v2", "a-1-b"] {
            assert!(ExtensionName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_each_problem_with_its_variant() {
        assert_eq!(ExtensionName::parse(""), Err(NameProblem::Empty));
        assert_eq!(ExtensionName::parse(&"a".repeat(MAX_NAME_CHARS + 1)), Err(NameProblem::TooLong));
        assert_eq!(ExtensionName::parse("Hello"), Err(NameProblem::BadCharacter('H')));
        assert_eq!(ExtensionName::parse("my_ext"), Err(NameProblem::BadCharacter('_')));
        assert_eq!(ExtensionName::parse("../evil"), Err(NameProblem::BadCharacter('.')));
        assert_eq!(ExtensionName::parse("2fast"), Err(NameProblem::BadStart));
        assert_eq!(ExtensionName::parse("-x"), Err(NameProblem::BadStart));
        assert_eq!(ExtensionName::parse("x-"), Err(NameProblem::BadHyphen));
        assert_eq!(ExtensionName::parse("a--b"), Err(NameProblem::BadHyphen));
        assert_eq!(ExtensionName::parse("fn"), Err(NameProblem::Reserved));
        assert_eq!(ExtensionName::parse("test"), Err(NameProblem::Reserved));
        assert_eq!(ExtensionName::parse("proc-macro"), Err(NameProblem::Reserved));
    }

    #[test]
    fn type_names_are_camel_case() {
        let name = |s: &str| ExtensionName::parse(s).map(|n| n.type_name());
        assert_eq!(name("hello"), Ok("Hello".to_owned()));
        assert_eq!(name("text-stats"), Ok("TextStats".to_owned()));
        assert_eq!(name("a-1-b"), Ok("A1B".to_owned()));
    }
}
