//! YAML input: the one place that parses YAML into typed values, so errors always name the file
//! and the field, and so serde_yaml (archived upstream) can be swapped for a successor here alone.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A YAML document that could not be read or did not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl YamlError {
    /// A semantic error found after parsing (a value of the right type but the wrong meaning).
    pub fn field(path: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        YamlError::Field {
            path: path.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Reads `path` and parses it as `T`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|source| YamlError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses `text` (which came from `path`) as `T`, naming the offending field on error.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, YamlError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        let message = err.inner().to_string();
        if field == "." || field.is_empty() {
            YamlError::Invalid {
                path: path.to_path_buf(),
                message,
            }
        } else {
            YamlError::Field {
                path: path.to_path_buf(),
                field,
                message,
            }
        }
    })
}

/// Parses every document of a multi-document YAML stream into loose JSON values (manifests).
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    let mut docs = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).map_err(|err| YamlError::Invalid {
                path: path.to_path_buf(),
                message: err.to_string(),
            })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Renders a value as YAML (manifests written by `new-model`, reports).
pub fn to_string<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("serialising plain data to YAML cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        count: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }

    #[test]
    fn names_the_nested_field_that_is_wrong() {
        let err = parse::<Outer>(Path::new("x.yaml"), "inner:\n  count: lots\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.yaml: field `inner.count`"), "{text}");
    }

    #[test]
    fn names_an_unknown_field() {
        let err =
            parse::<Outer>(Path::new("x.yaml"), "inner:\n  count: 1\n  colour: red\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let docs = parse_documents(Path::new("m.yaml"), "a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
