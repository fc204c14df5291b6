//! The workflow definition: one TOML file per workflow (or the same data built by an embedder),
//! parsed into typed steps. Parsing refuses unknown fields and malformed values with the file,
//! line and field; whether the steps make a sound graph over real extensions is
//! [`check`](mod@crate::check)'s job.
//!
//! ```toml
//! name = "report"
//! version = "1.0.0"
//! input_schema = "report.input.json"       # or an inline table
//! output_dir = "out/report"                 # optional: files published whole on success
//!
//! [[steps]]
//! id = "extract"
//! extension = "extract"                     # a name or name@version
//! input = "$input"
//!
//! [[steps]]
//! id = "summarize"
//! extension = "summarize"
//! needs = ["extract"]
//! input = { text = "$steps.extract/body" }
//! fallback = [{ extension = "summarize@1.0.0" }]
//! timeout_ms = 5_000
//! on_failure = "fail"                       # | "skip" (with `default = …`) | "continue"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use symphony_conductor::FallbackStep;
use symphony_types::config_file::{ConfigFileError, parse_toml};

use crate::contract::Schema;
use crate::mapping::Mapping;

/// File extension of workflow definitions in a workflow directory.
pub const WORKFLOW_FILE_EXTENSION: &str = "toml";

/// What a step's failure does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The run fails; steps not started yet do not run.
    #[default]
    Fail,
    /// The step counts as done with its declared `default` output.
    Skip,
    /// The step is marked failed and the run goes on (only for steps nothing else needs).
    Continue,
}

/// A workflow as written: the data an embedder may also build in code or deserialize from
/// any serde format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// Workflow name (lowercase letters, digits and `-`).
    pub name: String,
    /// Its version.
    #[serde(default = "default_version")]
    pub version: String,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the workflow input: a file (relative to the definition) or inline.
    #[serde(default)]
    pub input_schema: Option<SchemaSource>,
    /// Where the run's files appear, whole, when it succeeds (relative to the definition).
    /// Steps granted `workflow_output` write into a private staging directory meanwhile.
    #[serde(default)]
    pub output_dir: Option<PathBuf>,
    /// The steps.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

fn default_version() -> String {
    "0.0.0".to_owned()
}

/// A schema given by file or inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SchemaSource {
    /// A JSON file, relative to the definition's directory.
    File(PathBuf),
    /// The schema itself.
    Inline(Value),
}

/// One step as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique within the workflow (letters, digits, `-` and `_`).
    pub id: String,
    /// The extension: a name or `name@version`.
    pub extension: String,
    /// Steps that must finish first.
    #[serde(default)]
    pub needs: Vec<String>,
    /// How the input is assembled (see [`Mapping`]); by default the workflow input for a step
    /// with no needs, the output of its one need otherwise.
    #[serde(default)]
    pub input: Option<Value>,
    /// Features the serving extension must provide (default: the route's).
    #[serde(default)]
    pub requires: Option<Vec<String>>,
    /// Resilience profile (default: the route's, else the conductor's default).
    #[serde(default)]
    pub profile: Option<String>,
    /// Fallback chain (default: the route's).
    #[serde(default)]
    pub fallback: Option<Vec<FallbackStep>>,
    /// The step's whole time budget, retries and waits included, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// What a failure does to the run.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// The output a skipped step hands on (with `on_failure = "skip"` only).
    #[serde(default)]
    pub default: Option<Value>,
}

/// A parsed step.
#[derive(Debug, Clone)]
pub struct Step {
    /// As written.
    pub spec: StepSpec,
    /// The parsed input mapping.
    pub input: Mapping,
}

/// Where a definition came from, for findings that point at a line.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file, or `<embedded NAME>` for data given by an embedder.
    pub path: PathBuf,
    /// The file's text, when there is one.
    pub text: Option<Arc<str>>,
}

impl Origin {
    /// 1-based line of step `index`'s `[[steps]]` header, or of `key` inside that step when
    /// given and written there.
    #[must_use]
    pub fn line_of_step(&self, index: usize, key: Option<&str>) -> Option<usize> {
        let text = self.text.as_deref()?;
        let mut seen = 0usize;
        let mut in_step = false;
        let mut header = None;
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("[[steps]]") {
                if in_step {
                    break;
                }
                if seen == index {
                    in_step = true;
                    header = Some(number + 1);
                    if key.is_none() {
                        return header;
                    }
                }
                seen += 1;
                continue;
            }
            if in_step {
                if trimmed.starts_with('[') {
                    break;
                }
                if let Some(key) = key
                    && trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
                {
                    return Some(number + 1);
                }
            }
        }
        header
    }

    /// 1-based line of a top-level `key`.
    #[must_use]
    pub fn line_of_key(&self, key: &str) -> Option<usize> {
        let text = self.text.as_deref()?;
        text.lines()
            .position(|line| line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')))
            .map(|i| i + 1)
    }
}

/// A parsed workflow definition.
#[derive(Debug, Clone)]
pub struct WorkflowDefinition {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// The compiled input schema.
    pub input_schema: Option<Schema>,
    /// Steps, in the order written.
    pub steps: Vec<Step>,
    /// The output directory (resolved), when it declares one.
    pub output_dir: Option<PathBuf>,
    /// Where it came from.
    pub origin: Origin,
    /// sha256 (hex) of the definition as written: a journaled run resumes only under the
    /// definition it started with.
    pub sha256: String,
}

impl WorkflowDefinition {
    /// Read a definition file.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigFileError::whole_file(path, format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parse `text` as the content of `path` (relative schema files resolve beside it).
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and field.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigFileError> {
        let spec: WorkflowSpec = parse_toml(path, text)?;
        let origin = Origin { path: path.to_path_buf(), text: Some(Arc::from(text)) };
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Self::from_spec(spec, origin, path.parent(), sha256)
    }

    /// Validate a spec an embedder built; relative schema files resolve against `base_dir`.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the field (no line: there is no file).
    pub fn from_data(spec: WorkflowSpec, base_dir: Option<&Path>) -> Result<Self, ConfigFileError> {
        let origin = Origin { path: PathBuf::from(format!("<embedded {}>", spec.name)), text: None };
        // The data as built (its debug form is deterministic: every map in it is ordered).
        let sha256 = hex::encode(Sha256::digest(format!("{spec:?}").as_bytes()));
        Self::from_spec(spec, origin, base_dir, sha256)
    }

    fn from_spec(
        spec: WorkflowSpec,
        origin: Origin,
        base_dir: Option<&Path>,
        sha256: String,
    ) -> Result<Self, ConfigFileError> {
        let error = |line: Option<usize>, field: String, message: String| ConfigFileError {
            path: origin.path.clone(),
            line,
            column: None,
            field: Some(field),
            message,
        };
        if spec.name.is_empty()
            || !spec.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(error(
                origin.line_of_key("name"),
                "name".into(),
                format!("`{}` is not a valid name: use lowercase letters, digits and `-`", spec.name),
            ));
        }
        let input_schema = match &spec.input_schema {
            None => None,
            Some(source) => Some(load_schema(source, base_dir).map_err(|message| {
                error(origin.line_of_key("input_schema"), "input_schema".into(), message)
            })?),
        };
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (index, step) in spec.steps.iter().enumerate() {
            let field = |key: &str| format!("steps[{index}].{key}");
            let line = |key: Option<&str>| origin.line_of_step(index, key);
            if step.id.is_empty()
                || !step.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(error(
                    line(Some("id")),
                    field("id"),
                    format!("`{}` is not a valid step id: use letters, digits, `-` and `_`", step.id),
                ));
            }
            if spec.steps[..index].iter().any(|earlier| earlier.id == step.id) {
                return Err(error(
                    line(Some("id")),
                    field("id"),
                    format!("step id `{}` is used twice", step.id),
                ));
            }
            if step.extension.trim().is_empty() {
                return Err(error(
                    line(Some("extension")),
                    field("extension"),
                    "must name an extension".into(),
                ));
            }
            if step.timeout_ms == Some(0) {
                return Err(error(
                    line(Some("timeout_ms")),
                    field("timeout_ms"),
                    "must be greater than 0 (leave it out for no step timeout)".into(),
                ));
            }
            match (step.on_failure, &step.default) {
                (OnFailure::Skip, None) => {
                    return Err(error(
                        line(Some("on_failure")),
                        field("default"),
                        "`on_failure = \"skip\"` needs the `default` output the skipped step hands on".into(),
                    ));
                }
                (OnFailure::Fail | OnFailure::Continue, Some(_)) => {
                    return Err(error(
                        line(Some("default")),
                        field("default"),
                        "a `default` output is only used with `on_failure = \"skip\"`".into(),
                    ));
                }
                _ => {}
            }
            let input = match &step.input {
                Some(value) => Mapping::parse(value)
                    .map_err(|e| error(line(Some("input")), field("input"), e.to_string()))?,
                None => match step.needs.as_slice() {
                    [] => Mapping::workflow_input(),
                    [one] => Mapping::step_output(one),
                    _ => {
                        return Err(error(
                            line(None),
                            field("input"),
                            "a step with several `needs` must say how its input is built (`input = …`)"
                                .into(),
                        ));
                    }
                },
            };
            steps.push(Step { spec: step.clone(), input });
        }
        let output_dir = match &spec.output_dir {
            Some(dir) if dir.file_name().is_none() => {
                return Err(error(
                    origin.line_of_key("output_dir"),
                    "output_dir".into(),
                    format!("`{}` must name a directory (not empty, `/` or `..`)", dir.display()),
                ));
            }
            Some(dir) => Some(base_dir.map_or_else(|| dir.clone(), |base| base.join(dir))),
            None => None,
        };
        Ok(Self {
            name: spec.name,
            version: spec.version,
            description: spec.description,
            input_schema,
            steps,
            output_dir,
            origin,
            sha256,
        })
    }

    /// Index of the step with `id`.
    #[must_use]
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.spec.id == id)
    }
}

fn load_schema(source: &SchemaSource, base_dir: Option<&Path>) -> Result<Schema, String> {
    let value = match source {
        SchemaSource::Inline(value) => value.clone(),
        SchemaSource::File(file) => {
            let path = base_dir.map_or_else(|| file.clone(), |dir| dir.join(file));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?
        }
    };
    Schema::compile(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WorkflowDefinition, ConfigFileError> {
        WorkflowDefinition::parse(Path::new("wf.toml"), text)
    }

    #[test]
    fn the_output_directory_resolves_beside_the_definition_and_must_name_one() {
        let wf = WorkflowDefinition::parse(
            Path::new("flows/gen.toml"),
            "name = \"g\"\noutput_dir = \"out/src\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wf.output_dir.as_deref(), Some(Path::new("flows/out/src")));
        let err = parse("name = \"g\"\noutput_dir = \"..\"\n").err();
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("output_dir"));
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(2));
        let (a, b) = (parse("name = \"g\"\n").unwrap_or_else(|e| panic!("{e}")), parse("name = \"g\" \n"));
        assert_ne!(
            a.sha256,
            b.unwrap_or_else(|e| panic!("{e}")).sha256,
            "the hash is of the text as written"
        );
    }

    #[test]
    fn steps_parse_with_default_inputs() {
        let wf = parse(
            "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"echo\"\n\n[[steps]]\nid = \"b\"\nextension = \"echo\"\nneeds = [\"a\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wf.steps[0].input, Mapping::workflow_input());
        assert_eq!(wf.steps[1].input, Mapping::step_output("a"));
        assert_eq!(wf.origin.line_of_step(1, None), Some(6));
        assert_eq!(wf.origin.line_of_step(1, Some("needs")), Some(9));
    }

    #[test]
    fn unknown_fields_and_bad_values_name_their_line() {
        let unknown = parse("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\ncolour = 1\n").err();
        assert_eq!(unknown.as_ref().and_then(|e| e.line), Some(5));
        let twice =
            parse("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\n")
                .err();
        assert_eq!(
            twice.as_ref().map(|e| (e.line, e.field.as_deref())),
            Some((Some(6), Some("steps[1].id")))
        );
        let skip =
            parse("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\non_failure = \"skip\"\n").err();
        assert_eq!(
            skip.as_ref().map(|e| (e.line, e.field.as_deref())),
            Some((Some(5), Some("steps[0].default")))
        );
        let zero = parse("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\ntimeout_ms = 0\n").err();
        assert_eq!(zero.as_ref().and_then(|e| e.line), Some(5));
        let mapping =
            parse("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\ninput = \"$oops\"\n").err();
        assert_eq!(mapping.as_ref().and_then(|e| e.line), Some(5));
        let several = parse(
            "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\n[[steps]]\nid = \"b\"\nextension = \"e\"\n[[steps]]\nid = \"c\"\nextension = \"e\"\nneeds = [\"a\", \"b\"]\n",
        )
        .err();
        assert_eq!(several.as_ref().and_then(|e| e.line), Some(8));
    }

    #[test]
    fn inline_and_file_input_schemas_compile() {
        let wf = parse("name = \"w\"\n[input_schema]\ntype = \"object\"\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(wf.input_schema.is_some());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("in.json"), "{\"type\": \"string\"}")
            .unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("wf.toml");
        let wf = WorkflowDefinition::parse(&path, "name = \"w\"\ninput_schema = \"in.json\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wf.input_schema.map(|s| s.value().clone()), Some(serde_json::json!({"type": "string"})));
        let missing = WorkflowDefinition::parse(&path, "name = \"w\"\ninput_schema = \"nope.json\"\n").err();
        assert_eq!(
            missing.as_ref().map(|e| (e.line, e.field.as_deref())),
            Some((Some(2), Some("input_schema")))
        );
    }
}
