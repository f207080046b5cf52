//! Iris samples whose classes are known, for checking that a served iris classifier answers
//! correctly and not merely with HTTP 200.
//!
//! The first two rows are KServe's own e2e input (kserve/kserve test/e2e/data/iris_input.json),
//! answered `[1, 1]` by the sample model (test/e2e/predictor/test_sklearn.py). The others are
//! rows 0 and 100 of the iris data set (`sklearn.datasets.load_iris()`), labelled setosa (0) and
//! virginica (2) there; classifiers trained on iris, like KServe's SVC sample, classify them so.

use serde_json::Value;

/// Four features per row: sepal length, sepal width, petal length, petal width (cm).
pub const KNOWN_INPUTS: [[f64; 4]; 4] = [
    [6.8, 2.8, 4.8, 1.4],
    [6.0, 3.4, 4.5, 1.6],
    [5.1, 3.5, 1.4, 0.2],
    [6.3, 3.3, 6.0, 2.5],
];

/// The class of each row of `KNOWN_INPUTS`: 0 setosa, 1 versicolor, 2 virginica.
pub const KNOWN_CLASSES: [u8; 4] = [1, 1, 0, 2];

/// `KNOWN_INPUTS` as rows for `probe::predict`.
pub fn instances() -> Vec<Vec<f64>> {
    KNOWN_INPUTS.iter().map(|row| row.to_vec()).collect()
}

/// The predictions `KNOWN_INPUTS` must yield, as JSON values.
pub fn expected() -> Vec<Value> {
    KNOWN_CLASSES
        .iter()
        .map(|&class| Value::from(class))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_input_has_a_class_and_all_three_classes_occur() {
        assert_eq!(instances().len(), expected().len());
        for class in 0..=2u8 {
            assert!(
                KNOWN_CLASSES.contains(&class),
                "class {class} is not covered"
            );
        }
    }
}
