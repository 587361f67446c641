//! Opening log inputs: files or stdin, plain, gzip or zstd (told by magic bytes, not by name).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

/// One opened input: a reader of the decompressed bytes, and a counter of raw bytes read (for
/// progress).
pub struct Input {
    /// Name as given (`-` for stdin).
    pub name: String,
    /// Size on disk, when known.
    pub size: Option<u64>,
    /// Whether the bytes on disk are compressed (so `size` is not the stream's length).
    pub compressed: bool,
    /// The decompressed stream.
    pub reader: Box<dyn Read + Send>,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Open `name` (`-` is stdin), decompressing gzip and zstd transparently.
pub fn open(name: &str) -> Result<Input> {
    let (raw, size): (Box<dyn Read + Send>, Option<u64>) = if name == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(Path::new(name))
            .with_context(|| format!("cannot open {name}: check the path and permissions"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let head = buffered
        .fill_buf()
        .with_context(|| format!("cannot read {name}"))?;
    let (is_gzip, is_zstd) = (head.starts_with(GZIP_MAGIC), head.starts_with(ZSTD_MAGIC));
    let compressed = is_gzip || is_zstd;
    let reader: Box<dyn Read + Send> = if is_gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if is_zstd {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .with_context(|| format!("cannot start zstd decoding of {name}"))?,
        )
    } else {
        Box::new(buffered)
    };
    Ok(Input {
        name: name.to_string(),
        size,
        compressed,
        reader,
    })
}

/// Read into `buf` until it is full or the input ends; returns the bytes read (0 at the end).
pub fn read_chunk(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_plain_gzip_and_zstd_alike() {
        let text = b"# Time: 2019-03-24T14:04:53.714053Z\nselect 1;\n".repeat(100);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.log");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("a.log.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&text).unwrap();
        enc.finish().unwrap();
        let zst = dir.path().join("a.log.zst");
        std::fs::write(&zst, zstd::encode_all(&text[..], 1).unwrap()).unwrap();
        for p in [plain, gz, zst] {
            let mut input = open(p.to_str().unwrap()).unwrap();
            let mut out = Vec::new();
            input.reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, text, "{}", p.display());
        }
    }

    #[test]
    fn a_missing_file_says_what_to_do() {
        let err = open("/nonexistent/x.log").err().unwrap();
        assert!(format!("{err:#}").contains("check the path"));
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.gz");
        std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        let mut input = open(p.to_str().unwrap()).unwrap();
        let mut out = Vec::new();
        assert!(input.reader.read_to_end(&mut out).is_err());
    }
}
