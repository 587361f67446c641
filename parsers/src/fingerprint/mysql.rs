//! STUB — being written.
/// Write pt-query-digest's fingerprint of `query` into `out` (cleared first).
pub fn fingerprint(query: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(query);
}
