//! Writes the `domain` target's seed corpus (`fuzz-xlat/seeds-domain/`) from
//! [`mapcore_fuzz_xlat::domain_seeds`] (in module/mapcore:
//! `cargo run --manifest-path fuzz-xlat/Cargo.toml --bin write_domain_seeds`).
fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds-domain");
    std::fs::create_dir_all(&dir).expect("the seeds' folder");
    for (i, seed) in mapcore_fuzz_xlat::domain_seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed).expect("a seed");
    }
}
