//! Rebuilds the crate when an embedded tree changes: `include_dir!` reads `manifests/`, `k3d/`
//! and `scenarios/` at compile time, but stable Rust does not let it tell Cargo so.

fn main() {
    for dir in ["manifests", "k3d", "scenarios"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
