//! KServe's REST wire shapes: building V1/V2 predict bodies and reading predictions back.
//!
//! V1 (kserve python/kserve/kserve/protocol/rest/v1_endpoints.py, utils.get_predict_response):
//! request `{"instances": [[...], ...]}`, answer `{"predictions": [...]}`.
//! V2, the Open Inference Protocol (v2_endpoints.py, protocol/infer_type.py): request
//! `{"inputs": [{"name", "shape", "datatype", "data"}]}` with `data` flat in row-major order
//! (`InferInput.as_numpy` reshapes it to `shape`), answer `{"outputs": [{"name", "shape",
//! "datatype", "data"}], "model_name", ...}`.

use serde_json::{json, Value};

use super::ProbeError;
use crate::scenario::Protocol;

/// Serialises the predict body for `rows`, each row one instance of the same width.
pub(crate) fn request_body(protocol: Protocol, rows: &[Vec<f64>]) -> Result<Vec<u8>, ProbeError> {
    if rows.is_empty() {
        return Err(ProbeError::InvalidRequest("no input rows to send".into()));
    }
    let width = rows[0].len();
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(ProbeError::InvalidRequest(format!(
            "row {i} has {} features, row 0 has {width}",
            row.len()
        )));
    }
    let body = match protocol {
        Protocol::V1 => json!({ "instances": rows }),
        Protocol::V2 => {
            let data: Vec<f64> = rows.iter().flatten().copied().collect();
            json!({
                "inputs": [{
                    "name": "input-0",
                    "shape": [rows.len(), width],
                    "datatype": "FP64",
                    "data": data,
                }]
            })
        }
    };
    Ok(serde_json::to_vec(&body).expect("a JSON value always serialises"))
}

/// Reads the predictions out of an answer; `rows` is how many rows were sent (it splits a V2
/// output of shape `[rows, k]` into one prediction per row). The caller checks the count.
pub(crate) fn parse_predictions(
    protocol: Protocol,
    body: &[u8],
    rows: usize,
) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    match protocol {
        Protocol::V1 => match value.get("predictions") {
            Some(Value::Array(predictions)) => Ok(predictions.clone()),
            Some(other) => Err(format!("`predictions` is {}, not an array", kind(other))),
            None => Err(format!("no `predictions` field; keys: {}", keys(&value))),
        },
        Protocol::V2 => {
            let outputs = match value.get("outputs") {
                Some(Value::Array(outputs)) if !outputs.is_empty() => outputs,
                Some(Value::Array(_)) => return Err("`outputs` is empty".into()),
                Some(other) => return Err(format!("`outputs` is {}, not an array", kind(other))),
                None => return Err(format!("no `outputs` field; keys: {}", keys(&value))),
            };
            let output = &outputs[0];
            let data = match output.get("data") {
                Some(Value::Array(data)) => data,
                _ => return Err("`outputs[0].data` is missing or not an array".into()),
            };
            let shape: Vec<u64> = match output.get("shape").and_then(Value::as_array) {
                Some(dims) => dims.iter().filter_map(Value::as_u64).collect(),
                None => return Err("`outputs[0].shape` is missing".into()),
            };
            let elements: u64 = shape.iter().product();
            if elements != data.len() as u64 {
                return Err(format!(
                    "`outputs[0]` has shape {shape:?} but {} data elements",
                    data.len()
                ));
            }
            // One value per row is the classifier case; [rows, k, ...] (e.g. probabilities)
            // becomes one flat array per row. Another first dimension is left for the count
            // check, which names both numbers.
            match shape.as_slice() {
                [] => Err("`outputs[0].shape` is empty".into()),
                [_] | [_, 1] => Ok(data.clone()),
                [first, rest @ ..] if *first as usize == rows => {
                    let per_row = rest.iter().product::<u64>().max(1) as usize;
                    Ok(data
                        .chunks(per_row)
                        .map(|chunk| Value::Array(chunk.to_vec()))
                        .collect())
                }
                [first, ..] => Ok(vec![Value::Null; *first as usize]),
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn keys(value: &Value) -> String {
    match value.as_object() {
        Some(map) if !map.is_empty() => map.keys().cloned().collect::<Vec<_>>().join(", "),
        Some(_) => "none".into(),
        None => format!("the body is {}", kind(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: [[f64; 4]; 2] = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]];

    fn rows() -> Vec<Vec<f64>> {
        ROWS.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn v1_body_carries_instances() {
        let body: Value =
            serde_json::from_slice(&request_body(Protocol::V1, &rows()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]})
        );
    }

    #[test]
    fn v2_body_is_one_flat_row_major_tensor() {
        let body: Value =
            serde_json::from_slice(&request_body(Protocol::V2, &rows()).unwrap()).unwrap();
        let input = &body["inputs"][0];
        assert_eq!(input["shape"], json!([2, 4]));
        assert_eq!(input["datatype"], "FP64");
        assert_eq!(
            input["data"],
            json!([6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6])
        );
    }

    #[test]
    fn ragged_or_empty_rows_are_refused() {
        assert!(request_body(Protocol::V1, &[]).is_err());
        let ragged = vec![vec![1.0, 2.0], vec![1.0]];
        let err = request_body(Protocol::V2, &ragged).unwrap_err().to_string();
        assert!(err.contains("row 1 has 1 features"), "{err}");
    }

    // Answer shapes as the KServe 0.21 Python server sends them.
    #[test]
    fn v1_predictions_are_read() {
        let got = parse_predictions(Protocol::V1, br#"{"predictions":[1,1]}"#, 2).unwrap();
        assert_eq!(got, vec![json!(1), json!(1)]);
    }

    #[test]
    fn v1_without_predictions_is_a_shape_error() {
        let err = parse_predictions(Protocol::V1, br#"{"error":"boom"}"#, 2).unwrap_err();
        assert!(err.contains("no `predictions` field; keys: error"), "{err}");
        let err = parse_predictions(Protocol::V1, br#"{"predictions":1}"#, 1).unwrap_err();
        assert!(err.contains("not an array"), "{err}");
        assert!(parse_predictions(Protocol::V1, b"<html>", 1)
            .unwrap_err()
            .contains("not JSON"));
    }

    #[test]
    fn v2_outputs_are_read() {
        let body = br#"{"model_name":"iris","model_version":null,"id":"x","parameters":null,
            "outputs":[{"name":"output-0","shape":[2],"datatype":"INT64","parameters":null,"data":[1,1]}]}"#;
        assert_eq!(
            parse_predictions(Protocol::V2, body, 2).unwrap(),
            vec![json!(1), json!(1)]
        );
    }

    #[test]
    fn v2_probabilities_become_one_array_per_row() {
        let body = br#"{"outputs":[{"name":"p","shape":[2,3],"datatype":"FP64","data":[0.1,0.8,0.1,0.7,0.2,0.1]}]}"#;
        let got = parse_predictions(Protocol::V2, body, 2).unwrap();
        assert_eq!(got, vec![json!([0.1, 0.8, 0.1]), json!([0.7, 0.2, 0.1])]);
    }

    #[test]
    fn v2_shape_and_data_must_agree() {
        let body = br#"{"outputs":[{"name":"o","shape":[3],"datatype":"INT64","data":[1,1]}]}"#;
        let err = parse_predictions(Protocol::V2, body, 3).unwrap_err();
        assert!(err.contains("shape [3] but 2 data elements"), "{err}");
        let err = parse_predictions(Protocol::V2, br#"{"outputs":[]}"#, 1).unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn v2_with_a_different_row_count_reaches_the_count_check() {
        let body = br#"{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}]}"#;
        assert_eq!(parse_predictions(Protocol::V2, body, 2).unwrap().len(), 1);
    }
}
