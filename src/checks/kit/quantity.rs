//! Kubernetes quantities ("500m", "4Gi", "1.5", "2e3") as numbers, so values the API server
//! rewrote into canonical form (`1` for `1000m`) compare equal to what was declared.
//! k8s-openapi keeps quantities as strings; apimachinery pkg/api/resource/quantity.go defines
//! the suffixes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity's value, or `None` when the text is not a quantity.
pub fn value(text: &str) -> Option<f64> {
    let text = text.trim();
    const BINARY: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
    ];
    const DECIMAL: &[(&str, f64)] = &[
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in BINARY.iter().chain(DECIMAL) {
        if let Some(number) = text.strip_suffix(suffix) {
            // "1E" is exa, but "1e3" is an exponent: only a bare number may precede a suffix.
            if let Ok(n) = number.parse::<f64>() {
                if !number.contains(['e', 'E']) {
                    return Some(n * factor);
                }
            }
        }
    }
    text.parse::<f64>().ok()
}

/// Whether two quantities are the same amount (texts that are not quantities compare as text).
pub fn same(a: &str, b: &str) -> bool {
    match (value(a), value(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Differences between a declared quantity map and the live one, declared keys only (the API
/// server defaults unset fields, so extra live keys are expected): how many keys were compared
/// and one line per difference, each starting with `what`.
pub fn map_differences(
    what: &str,
    declared: Option<&BTreeMap<String, Quantity>>,
    live: Option<&BTreeMap<String, Quantity>>,
) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    for (key, want) in declared.into_iter().flatten() {
        compared += 1;
        match live.and_then(|l| l.get(key)) {
            Some(have) if same(&want.0, &have.0) => {}
            Some(have) => {
                differences.push(format!("{what} {key} is {} (declared {})", have.0, want.0))
            }
            None => differences.push(format!("{what} {key} is not set (declared {})", want.0)),
        }
    }
    (compared, differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(value("500m"), Some(0.5));
        assert_eq!(value("4Gi"), Some(4.0 * 1073741824.0));
        assert_eq!(value("2e3"), Some(2000.0));
        assert_eq!(value("1E"), Some(1e18));
        assert!(same("1", "1000m"));
        assert!(same("8Gi", "8192Mi"));
        assert!(!same("8Gi", "8G"));
        assert_eq!(value("1k"), Some(1000.0));
        assert!(!same("1", "2"));
        assert!(same("cpu", "cpu"));
        assert_eq!(value("lots"), None);
    }

    #[test]
    fn only_declared_keys_are_compared() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        let declared = map(&[("cpu", "4"), ("memory", "8Gi")]);
        let live = map(&[("cpu", "4000m"), ("memory", "4Gi"), ("pods", "10")]);
        let (compared, differences) = map_differences("quota", Some(&declared), Some(&live));
        assert_eq!(compared, 2);
        assert_eq!(
            differences,
            vec!["quota memory is 4Gi (declared 8Gi)".to_string()]
        );
    }
}
