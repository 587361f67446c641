//! STUB — being written.
/// Write the pg_stat_statements-style normalised form of `query` into `out` (cleared first).
pub fn normalize(query: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(query);
}
