//! A step's `input` mapping: how its input is assembled from the workflow input and the outputs
//! of the steps it depends on.
//!
//! Written as any TOML/JSON value. A string starting with `$` is a reference:
//! `$input` (the whole workflow input), `$input/ptr`, `$steps.ID` (a step's whole output) or
//! `$steps.ID/ptr`, where `ptr` is a JSON pointer (RFC 6901). `$$` starts a literal string that
//! begins with `$`. Tables map keys to mappings; every other value is a literal. Which steps a
//! mapping may read (ancestors only) is the checker's job, evaluating it is the runner's.

use serde_json::Value;

/// Where a reference reads from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The workflow's input.
    Input,
    /// The output of the step with this id.
    Step(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input => f.write_str("$input"),
            Self::Step(id) => write!(f, "$steps.{id}"),
        }
    }
}

/// One value read from a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What it reads.
    pub source: Source,
    /// JSON pointer into it (`""`: the whole value).
    pub pointer: String,
}

/// A parsed mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    /// A value taken from the workflow input or a step's output.
    Ref(Reference),
    /// A fixed value.
    Literal(Value),
    /// An object whose members are mappings, in the order written.
    Object(Vec<(String, Mapping)>),
}

/// A mapping that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: {reason}")]
pub struct MappingError {
    /// The offending reference.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One reference inside a mapping, with where its value lands in the assembled input.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    /// Keys from the input's root to the value (empty: the whole input).
    pub at: &'a [String],
    /// The reference.
    pub reference: &'a Reference,
}

impl Mapping {
    /// Parse a mapping written as `value`.
    ///
    /// # Errors
    /// [`MappingError`] for a malformed reference.
    pub fn parse(value: &Value) -> Result<Self, MappingError> {
        match value {
            Value::String(text) => parse_string(text),
            Value::Object(members) => members
                .iter()
                .map(|(key, value)| Ok((key.clone(), Self::parse(value)?)))
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Object),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// The whole output of `step`.
    #[must_use]
    pub fn step_output(step: &str) -> Self {
        Self::Ref(Reference { source: Source::Step(step.to_owned()), pointer: String::new() })
    }

    /// The whole workflow input.
    #[must_use]
    pub fn workflow_input() -> Self {
        Self::Ref(Reference { source: Source::Input, pointer: String::new() })
    }

    /// Every reference with where it lands, in order.
    #[must_use]
    pub fn references(&self) -> Vec<(Vec<String>, &Reference)> {
        let mut out = Vec::new();
        collect(self, &mut Vec::new(), &mut out);
        out
    }

    /// Build the value, reading each reference through `read`; `None` when a reference's
    /// pointer does not exist in what it reads (the error names it).
    ///
    /// # Errors
    /// The first reference that could not be read.
    pub fn evaluate<'v>(&self, read: &dyn Fn(&Source) -> Option<&'v Value>) -> Result<Value, Reference> {
        match self {
            Self::Literal(value) => Ok(value.clone()),
            Self::Ref(reference) => read(&reference.source)
                .and_then(|value| value.pointer(&reference.pointer))
                .cloned()
                .ok_or_else(|| reference.clone()),
            Self::Object(members) => {
                let mut object = serde_json::Map::with_capacity(members.len());
                for (key, mapping) in members {
                    object.insert(key.clone(), mapping.evaluate(read)?);
                }
                Ok(Value::Object(object))
            }
        }
    }

    /// When the mapping is one whole-value reference (`$steps.ID` or `$input`), its source: the
    /// runner can then hand the producer's payload on without parsing it.
    #[must_use]
    pub fn whole(&self) -> Option<&Source> {
        match self {
            Self::Ref(Reference { source, pointer }) if pointer.is_empty() => Some(source),
            _ => None,
        }
    }
}

fn collect<'a>(mapping: &'a Mapping, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a Reference)>) {
    match mapping {
        Mapping::Ref(reference) => out.push((at.clone(), reference)),
        Mapping::Literal(_) => {}
        Mapping::Object(members) => {
            for (key, member) in members {
                at.push(key.clone());
                collect(member, at, out);
                at.pop();
            }
        }
    }
}

fn parse_string(text: &str) -> Result<Mapping, MappingError> {
    if let Some(literal) = text.strip_prefix("$$") {
        return Ok(Mapping::Literal(Value::String(format!("${literal}"))));
    }
    let Some(reference) = text.strip_prefix('$') else {
        return Ok(Mapping::Literal(Value::String(text.to_owned())));
    };
    let error = |reason: &str| MappingError { text: text.to_owned(), reason: reason.to_owned() };
    let (head, pointer) = match reference.find('/') {
        Some(at) => (&reference[..at], &reference[at..]),
        None => (reference, ""),
    };
    let source = if head == "input" {
        Source::Input
    } else if let Some(id) = head.strip_prefix("steps.") {
        if id.is_empty() {
            return Err(error("name the step: `$steps.ID` or `$steps.ID/pointer`"));
        }
        Source::Step(id.to_owned())
    } else {
        return Err(error(
            "a reference is `$input`, `$input/pointer`, `$steps.ID` or `$steps.ID/pointer` (write `$$` for a literal `$`)",
        ));
    };
    if pointer.contains('~') && !valid_escapes(pointer) {
        return Err(error("in a JSON pointer `~` must be followed by 0 or 1"));
    }
    Ok(Mapping::Ref(Reference { source, pointer: pointer.to_owned() }))
}

fn valid_escapes(pointer: &str) -> bool {
    let bytes = pointer.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

/// The keys of a JSON pointer, unescaped (`/a~1b/c` → `["a/b", "c"]`).
#[must_use]
pub fn pointer_keys(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|key| key.replace("~1", "/").replace("~0", "~")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_literals_and_objects_parse() {
        let mapping = Mapping::parse(&json!({
            "title": "$steps.extract/title", "all": "$input", "n": 3, "cost": "$$5", "plain": "text"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let refs = mapping.references();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].0, ["all"]);
        assert_eq!(refs[0].1.source, Source::Input);
        assert_eq!(
            (refs[1].1.source.clone(), refs[1].1.pointer.as_str()),
            (Source::Step("extract".into()), "/title")
        );
        let input = json!({"doc": 1});
        let extract = json!({"title": "T"});
        let value = mapping
            .evaluate(&|source| match source {
                Source::Input => Some(&input),
                Source::Step(_) => Some(&extract),
            })
            .unwrap_or_else(|r| panic!("{r:?}"));
        assert_eq!(value, json!({"title": "T", "all": {"doc": 1}, "n": 3, "cost": "$5", "plain": "text"}));
    }

    #[test]
    fn a_missing_pointer_names_its_reference() {
        let mapping = Mapping::parse(&json!("$steps.a/missing")).unwrap_or_else(|e| panic!("{e}"));
        let output = json!({"present": 1});
        let missing = mapping.evaluate(&|_| Some(&output)).err();
        assert_eq!(missing.map(|r| r.pointer), Some("/missing".to_owned()));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in ["$nope", "$steps.", "$steps.a/~2"] {
            assert!(Mapping::parse(&json!(bad)).is_err(), "{bad}");
        }
        assert_eq!(pointer_keys("/a~1b/c~0"), ["a/b", "c~"]);
    }
}
