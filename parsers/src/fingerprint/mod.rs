//! Query fingerprints: the normalised form of a query that groups its executions into a class.
//!
//! * [`mysql::fingerprint`] — pt-query-digest's fingerprint (percona-toolkit `QueryRewriter`),
//!   so that classes and ids match pt-query-digest reports;
//! * [`postgres::normalize`] — a pg_stat_statements-like normalised statement;
//! * [`fingerprint_id`] — the class id: uppercase hex MD5 of a fingerprint, as pt-query-digest 3.x
//!   prints it (`ID 0x…` in reports, `checksum` in its JSON output; pt 2.x printed only the last
//!   16 hex digits, which are a suffix of ours).
//!
//! Both fingerprint functions are pure, linear-time, allocation-free beyond the caller's `out`
//! buffer (reuse it across calls), and accept arbitrary bytes.
pub mod mysql;
pub mod postgres;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use md5::{Digest, Md5};
use rustc_hash::FxHasher;

/// The class id of a fingerprint: uppercase hex MD5 (32 chars), as pt-query-digest 3.x prints.
pub fn fingerprint_id(fingerprint: &[u8]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digest = Md5::digest(fingerprint);
    let mut id = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        id[2 * i] = HEX[usize::from(b >> 4)];
        id[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    id
}

/// The longest fingerprint kept for an entry cut at `max_entry_bytes`: such a fingerprint is of
/// a partial query (records flag it `fingerprint_truncated`), and unbounded it could be as large
/// as the entry (a literal or a list the cut leaves open).
pub const MAX_CUT_FINGERPRINT_BYTES: usize = 4 << 10;

/// Bound the fingerprint of a cut entry to [`MAX_CUT_FINGERPRINT_BYTES`], ending on a whole
/// UTF-8 character, and give back the memory a huge one took.
pub fn bound_cut_fingerprint(fingerprint: &mut Vec<u8>) {
    if fingerprint.len() > MAX_CUT_FINGERPRINT_BYTES {
        let mut end = MAX_CUT_FINGERPRINT_BYTES;
        // Back over at most three continuation bytes to the start of the last character.
        while end > MAX_CUT_FINGERPRINT_BYTES - 4 && fingerprint[end] & 0xc0 == 0x80 {
            end -= 1;
        }
        fingerprint.truncate(end);
    }
    fingerprint.shrink_to(4 * MAX_CUT_FINGERPRINT_BYTES);
}

/// Remembers the ids of recently seen fingerprints. Classes repeat (a busy log has a few hundred
/// fingerprints), and a hash lookup costs a fraction of an MD5. Bounded: emptied when it holds
/// [`IdCache::MAX_ENTRIES`] fingerprints or [`IdCache::MAX_BYTES`] of them.
#[derive(Debug, Default)]
pub struct IdCache {
    map: HashMap<Box<[u8]>, [u8; 32], BuildHasherDefault<FxHasher>>,
    bytes: usize,
}

impl IdCache {
    /// Fingerprints kept at most.
    pub const MAX_ENTRIES: usize = 4096;
    /// Fingerprint bytes kept at most.
    pub const MAX_BYTES: usize = 1 << 20;
    /// Longer fingerprints are not kept (they are rare, and MD5 of them is cheap next to the
    /// work of making them).
    const MAX_KEY: usize = 4096;

    /// The id of `fingerprint` ([`fingerprint_id`]), from the cache when it can.
    pub fn id(&mut self, fingerprint: &[u8]) -> [u8; 32] {
        if let Some(id) = self.map.get(fingerprint) {
            return *id;
        }
        let id = fingerprint_id(fingerprint);
        if fingerprint.len() <= Self::MAX_KEY {
            if self.map.len() >= Self::MAX_ENTRIES
                || self.bytes + fingerprint.len() > Self::MAX_BYTES
            {
                self.map.clear();
                self.bytes = 0;
            }
            self.bytes += fingerprint.len();
            self.map.insert(fingerprint.into(), id);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::{bound_cut_fingerprint, fingerprint_id, IdCache, MAX_CUT_FINGERPRINT_BYTES};

    #[test]
    fn cache_agrees_and_stays_bounded() {
        let mut cache = IdCache::default();
        for i in 0..(IdCache::MAX_ENTRIES * 2 + 7) {
            let fp = format!("select ? from t{}", i % (IdCache::MAX_ENTRIES + 3));
            assert_eq!(cache.id(fp.as_bytes()), fingerprint_id(fp.as_bytes()));
            assert!(cache.map.len() <= IdCache::MAX_ENTRIES);
        }
    }

    #[test]
    fn cut_fingerprints_end_on_a_character() {
        let mut fp = vec![b'a'; MAX_CUT_FINGERPRINT_BYTES - 1];
        fp.extend_from_slice("é€".as_bytes());
        bound_cut_fingerprint(&mut fp);
        assert_eq!(fp.len(), MAX_CUT_FINGERPRINT_BYTES - 1);
        let mut fp = vec![b'a'; 3 * MAX_CUT_FINGERPRINT_BYTES];
        bound_cut_fingerprint(&mut fp);
        assert_eq!(fp.len(), MAX_CUT_FINGERPRINT_BYTES);
        let mut fp = b"select ?".to_vec();
        bound_cut_fingerprint(&mut fp);
        assert_eq!(fp, b"select ?");
    }

    #[test]
    fn id_is_uppercase_md5_hex() {
        // From pt-query-digest's JSON sample slow002.txt (`checksum`).
        let fp = b"update d?tuningdetail_?_? n inner join d?gonzo a using(gonzo) set n.column? = a.column?, n.word? = a.word?";
        assert_eq!(&fingerprint_id(fp), b"45FE45AEC222350466825DDC008FFA89");
        assert_eq!(&fingerprint_id(b""), b"D41D8CD98F00B204E9800998ECF8427E");
    }
}
