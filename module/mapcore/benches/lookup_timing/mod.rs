//! Timing shared by the lookup benchmarks' tables.

use std::time::Instant;

/// Lookups per pass: one per probe address.
pub const PROBES: usize = 4096;

/// ns per lookup of `f`, a pass over the probes: the median of 7 runs of 50 passes.
pub fn ns_per_lookup(mut f: impl FnMut()) -> f64 {
    f();
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..50 {
                f();
            }
            t.elapsed().as_nanos() as f64 / (50 * PROBES) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}
