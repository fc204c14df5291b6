//! Data contracts: the JSON Schemas an extension declares for its input and output
//! (`[schema]` in its manifest), compiled once with the `jsonschema` crate (default features
//! off: a `$ref` to a URL or a file is never fetched), and the structural questions the checker
//! asks of them without any data: can this pointer exist, what does this part of the schema
//! allow, and does a producer's schema fit a consumer's.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::mapping::pointer_keys;

/// Longest validation reason kept, in bytes.
pub const MAX_REASON_BYTES: usize = 512;
/// How deep the compatibility check descends into nested objects, in levels.
const MAX_COMPAT_DEPTH: usize = 8;

/// A compiled JSON Schema.
#[derive(Clone)]
pub struct Schema {
    value: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Schema").field(&self.value).finish()
    }
}

/// A schema that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON Schema: {reason}")]
pub struct SchemaError {
    /// What the compiler said.
    pub reason: String,
}

/// Where and why a value does not satisfy a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the value (`""`: the whole value).
    pub pointer: String,
    /// What the schema expected, at most [`MAX_REASON_BYTES`].
    pub reason: String,
}

impl Schema {
    /// Compile `value`.
    ///
    /// # Errors
    /// [`SchemaError`] when it is not a valid schema or refers to one that cannot be resolved
    /// locally.
    pub fn compile(value: Value) -> Result<Self, SchemaError> {
        let validator =
            jsonschema::validator_for(&value).map_err(|e| SchemaError { reason: bounded(&e.to_string()) })?;
        Ok(Self { value: Arc::new(value), validator: Arc::new(validator) })
    }

    /// The schema document.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Check `instance`.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn check(&self, instance: &Value) -> Result<(), Violation> {
        match self.validator.validate(instance) {
            Ok(()) => Ok(()),
            Err(error) => Err(Violation {
                pointer: error.instance_path().to_string(),
                // The instance is untrusted guest output: say what was expected, not what came.
                reason: bounded(&error.masked().to_string()),
            }),
        }
    }

    /// The part of this schema describing the value at `keys` (object properties, array items),
    /// when it can be told; `Some(Err(..))` when the schema says no value can be there.
    #[must_use]
    pub fn at(&self, keys: &[String]) -> Option<Result<Value, String>> {
        subschema(&self.value, keys)
    }

    /// [`Schema::at`] for a JSON pointer.
    #[must_use]
    pub fn at_pointer(&self, pointer: &str) -> Option<Result<Value, String>> {
        subschema(&self.value, &pointer_keys(pointer))
    }
}

/// The subschema of `schema` at `keys`: `None` when it cannot be told (no `properties`, a
/// `$ref`, a combinator), `Some(Err(why))` when the schema rules the path out.
fn subschema(schema: &Value, keys: &[String]) -> Option<Result<Value, String>> {
    let mut current = schema;
    for (depth, key) in keys.iter().enumerate() {
        let object = current.as_object()?;
        if object.contains_key("$ref") || object.contains_key("anyOf") || object.contains_key("oneOf") {
            return None;
        }
        let types = allowed_types(current);
        if let Some(properties) = object.get("properties").and_then(Value::as_object)
            && let Some(property) = properties.get(key)
        {
            current = property;
            continue;
        }
        if let Some(types) = &types
            && !types.contains("object")
            && !types.contains("array")
        {
            return Some(Err(format!(
                "{} is a {}, it has no member `{key}`",
                parent(keys, depth),
                join(types)
            )));
        }
        if let Some(types) = &types
            && types.contains("array")
            && !types.contains("object")
        {
            if key.parse::<usize>().is_err() {
                return Some(Err(format!("{} is an array: `{key}` is not an index", parent(keys, depth))));
            }
            current = object.get("items")?;
            continue;
        }
        if object.get("additionalProperties") == Some(&Value::Bool(false)) {
            return Some(Err(format!(
                "{} allows no property `{key}` (additionalProperties is false)",
                parent(keys, depth)
            )));
        }
        match object.get("additionalProperties") {
            Some(additional @ Value::Object(_)) => current = additional,
            _ => return None,
        }
    }
    Some(Ok(current.clone()))
}

fn parent(keys: &[String], depth: usize) -> String {
    if depth == 0 { "the value".to_owned() } else { format!("/{}", keys[..depth].join("/")) }
}

/// The JSON types a schema allows (`integer` implies `number`'s subset), `None` when it does not
/// say (no `type`).
fn allowed_types(schema: &Value) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(one) => Some(BTreeSet::from([one.clone()])),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        _ => None,
    }
}

fn join(types: &BTreeSet<String>) -> String {
    types.iter().map(String::as_str).collect::<Vec<_>>().join(" or ")
}

/// How well a producer's schema fits a consumer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Pointer below the mapped value where they disagree (`""`: the value itself).
    pub pointer: String,
    /// What disagrees.
    pub reason: String,
    /// `true`: every value the producer may send is refused (an error); `false`: some may be
    /// (a warning: e.g. the producer allows `null` where the consumer does not).
    pub certain: bool,
}

/// Compare what `producer` may produce with what `consumer` accepts: types must fit
/// (`integer` fits `number`), and every property the consumer requires must be one the producer
/// always produces.
#[must_use]
pub fn compatibility(producer: &Value, consumer: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    compare(producer, consumer, String::new(), 0, &mut out);
    out
}

fn compare(producer: &Value, consumer: &Value, at: String, depth: usize, out: &mut Vec<Mismatch>) {
    if depth > MAX_COMPAT_DEPTH {
        return;
    }
    if let (Some(produced), Some(accepted)) = (allowed_types(producer), allowed_types(consumer)) {
        let fits = |t: &String| accepted.contains(t) || (t == "integer" && accepted.contains("number"));
        let fitting: Vec<&String> = produced.iter().filter(|t| fits(t)).collect();
        if fitting.is_empty() {
            out.push(Mismatch {
                pointer: at,
                reason: format!("produces {}, accepts {}", join(&produced), join(&accepted)),
                certain: true,
            });
            return;
        }
        if fitting.len() < produced.len() {
            let extra: BTreeSet<String> = produced.iter().filter(|t| !fits(t)).cloned().collect();
            out.push(Mismatch {
                pointer: at.clone(),
                reason: format!("may produce {}, accepts only {}", join(&extra), join(&accepted)),
                certain: false,
            });
        }
    }
    let required: Vec<&str> = consumer
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let produced_required: BTreeSet<&str> = producer
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let produced_properties = producer.get("properties").and_then(Value::as_object);
    let closed = producer.get("additionalProperties") == Some(&Value::Bool(false));
    for key in required {
        if produced_required.contains(key) {
            continue;
        }
        let declared = produced_properties.is_some_and(|p| p.contains_key(key));
        if declared || !closed {
            if declared {
                out.push(Mismatch {
                    pointer: format!("{at}/{key}"),
                    reason: "required by the consumer, optional in the producer's output".to_owned(),
                    certain: false,
                });
            }
        } else {
            out.push(Mismatch {
                pointer: format!("{at}/{key}"),
                reason: "required by the consumer, never produced".to_owned(),
                certain: true,
            });
        }
    }
    if let (Some(produced), Some(accepted)) =
        (produced_properties, consumer.get("properties").and_then(Value::as_object))
    {
        for (key, accepted_schema) in accepted {
            if let Some(produced_schema) = produced.get(key) {
                compare(produced_schema, accepted_schema, format!("{at}/{key}"), depth + 1, out);
            }
        }
    }
}

/// `text` cut to [`MAX_REASON_BYTES`] at a char boundary.
fn bounded(text: &str) -> String {
    let end = symphony_types::progress_log::floor_char_boundary(text, MAX_REASON_BYTES);
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> Schema {
        Schema::compile(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_violation_names_the_pointer_and_not_the_value() {
        let s = schema(json!({"type": "object", "properties": {"keywords": {"type": "array"}}}));
        assert_eq!(s.check(&json!({"keywords": ["a"]})), Ok(()));
        let violation = s.check(&json!({"keywords": "secret-value"})).err();
        assert_eq!(violation.as_ref().map(|v| v.pointer.as_str()), Some("/keywords"));
        assert!(violation.is_some_and(|v| !v.reason.contains("secret-value")));
    }

    #[test]
    fn remote_references_are_never_fetched() {
        let remote = json!({"$ref": "http://127.0.0.1:9/schema.json"});
        assert!(Schema::compile(remote).is_err());
    }

    #[test]
    fn pointers_are_checked_against_the_schema_shape() {
        let s = schema(json!({
            "type": "object", "additionalProperties": false,
            "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}
        }));
        assert_eq!(s.at_pointer("/title"), Some(Ok(json!({"type": "string"}))));
        assert_eq!(s.at_pointer("/tags/0"), Some(Ok(json!({"type": "string"}))));
        assert!(matches!(s.at_pointer("/nope"), Some(Err(_))));
        assert!(matches!(s.at_pointer("/title/x"), Some(Err(_))));
        assert!(matches!(s.at_pointer("/tags/x"), Some(Err(_))));
        let open = schema(json!({"type": "object"}));
        assert_eq!(open.at_pointer("/anything"), None);
    }

    #[test]
    fn compatibility_finds_certain_and_possible_mismatches() {
        let consumer = json!({
            "type": "object", "required": ["summary", "words"],
            "properties": {"summary": {"type": "string"}, "words": {"type": "number"}, "keywords": {"type": "array"}}
        });
        let fits = json!({
            "type": "object", "required": ["summary", "words"],
            "properties": {"summary": {"type": "string"}, "words": {"type": "integer"}}
        });
        assert_eq!(compatibility(&fits, &consumer), []);
        let nullable = json!({
            "type": "object", "required": ["summary", "words"], "additionalProperties": false,
            "properties": {"summary": {"type": "string"}, "words": {"type": "integer"}, "keywords": {"type": ["array", "null"]}}
        });
        let found = compatibility(&nullable, &consumer);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].pointer.as_str(), found[0].certain), ("/keywords", false));
        let broken = json!({
            "type": "object", "required": ["summary"], "additionalProperties": false,
            "properties": {"summary": {"type": "integer"}}
        });
        let found = compatibility(&broken, &consumer);
        let certain: Vec<&str> = found.iter().filter(|m| m.certain).map(|m| m.pointer.as_str()).collect();
        assert_eq!(certain, ["/words", "/summary"]);
    }
}
