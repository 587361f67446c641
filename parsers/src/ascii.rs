//! Short ASCII words as 128-bit integers: keyword tests in hot loops become integer compares
//! instead of string comparisons.

/// `s` (at most 16 bytes) zero-padded into a little-endian word; usable in `const` tables.
pub(crate) const fn pack16(s: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let mut i = 0;
    while i < s.len() && i < 16 {
        b[i] = s[i];
        i += 1;
    }
    u128::from_le_bytes(b)
}

/// `s` lowercased and packed like [`pack16`]; `None` if longer than 16 bytes.
#[inline]
pub(crate) fn pack16_lower(s: &[u8]) -> Option<u128> {
    let mut b = [0u8; 16];
    b.get_mut(..s.len())?
        .iter_mut()
        .zip(s)
        .for_each(|(d, c)| *d = c.to_ascii_lowercase());
    Some(u128::from_le_bytes(b))
}

/// `s` packed as is; `None` if longer than 16 bytes.
#[inline]
pub(crate) fn pack16_exact(s: &[u8]) -> Option<u128> {
    let mut b = [0u8; 16];
    b.get_mut(..s.len())?.copy_from_slice(s);
    Some(u128::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_agrees() {
        assert_eq!(pack16_exact(b"Query_time"), Some(pack16(b"Query_time")));
        assert_eq!(pack16_lower(b"SELECT"), Some(pack16(b"select")));
        assert_eq!(pack16_lower(&[b'a'; 17]), None);
        assert_ne!(pack16(b"ab"), pack16(b"ab\0c"));
    }
}
