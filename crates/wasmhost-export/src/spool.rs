//! The on-disk spool of one network sink: every batch is written here before
//! it is sent and removed only once the receiver acknowledged it, so batches
//! survive a receiver outage and a restart of wasmhost.
//!
//! One file per batch, `NNNNNNNNNNNNNNNNNNNN.batch` (a 20-digit sequence
//! number: names sort in sending order), written to a `.tmp` file and renamed
//! into place. A file is:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `WHSPOOL1` |
//! | 1 | body encoding (0 protobuf, 1 JSON) |
//! | 8 | records in the batch (little endian) |
//! | 8 | body length (little endian) |
//! | 4 | CRC-32 of the body (little endian) |
//! | n | the uncompressed body |
//!
//! A file whose length or checksum does not match (torn by a power loss) is
//! renamed to `.corrupt` and skipped; the sink says so in an event.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::batch::{Batch, Encoding};

const MAGIC: &[u8; 8] = b"WHSPOOL1";
const HEADER: usize = 8 + 1 + 8 + 8 + 4;

/// A spool file that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("spool file {path}: {reason}")]
pub struct SpoolError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// One spooled batch: its file, size on disk, and records.
#[derive(Debug, Clone)]
pub struct SpoolEntry {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records in the batch, as its header says (0 when the header cannot
    /// be read: the file is then found corrupt when its turn comes).
    pub records: u64,
}

/// The record count in a spool file's header; 0 if the header is unreadable.
fn records_in(path: &Path) -> u64 {
    use std::io::Read;
    let mut header = [0u8; HEADER];
    match fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) if &header[..8] == MAGIC => u64::from_le_bytes(header[9..17].try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

/// A spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next: u64,
}

impl Spool {
    /// Opens (creating) `dir` and lists the batches a previous run left, in
    /// sending order.
    pub fn open(dir: &Path) -> std::io::Result<(Spool, Vec<SpoolEntry>)> {
        fs::create_dir_all(dir)?;
        let mut entries = Vec::new();
        let mut next = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".batch")) else { continue };
            let Ok(n) = stem.parse::<u64>() else { continue };
            next = next.max(n + 1);
            let path = entry.path();
            // The count, so the shutdown event and the metrics of a run that
            // only drains a previous run's batches say how many records wait.
            let records = records_in(&path);
            entries.push((n, SpoolEntry { path, bytes: entry.metadata()?.len(), records }));
        }
        entries.sort_by_key(|(n, _)| *n);
        Ok((Spool { dir: dir.to_owned(), next }, entries.into_iter().map(|(_, e)| e).collect()))
    }

    /// Writes `batch` as the newest file.
    pub fn write(&mut self, batch: &Batch) -> std::io::Result<SpoolEntry> {
        let path = self.dir.join(format!("{:020}.batch", self.next));
        let tmp = path.with_extension("tmp");
        self.next += 1;
        let mut file = fs::File::create(&tmp)?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.push(batch.encoding.tag());
        header.extend_from_slice(&batch.records.to_le_bytes());
        header.extend_from_slice(&(batch.body.len() as u64).to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&batch.body).to_le_bytes());
        file.write_all(&header)?;
        file.write_all(&batch.body)?;
        drop(file);
        fs::rename(&tmp, &path)?;
        Ok(SpoolEntry { path, bytes: (HEADER + batch.body.len()) as u64, records: batch.records })
    }

    /// Reads a batch back, checking its length and checksum.
    pub fn read(entry: &SpoolEntry) -> Result<Batch, SpoolError> {
        let bad = |reason: String| SpoolError { path: entry.path.clone(), reason };
        let data = fs::read(&entry.path).map_err(|e| bad(e.to_string()))?;
        if data.len() < HEADER || &data[..8] != MAGIC {
            return Err(bad(format!("not a spool file or cut short ({} bytes)", data.len())));
        }
        let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap_or([0; 8]));
        let encoding = Encoding::from_tag(data[8]).ok_or_else(|| bad(format!("unknown encoding {}", data[8])))?;
        let records = u64_at(9);
        let len = u64_at(17);
        let crc = u32::from_le_bytes(data[25..29].try_into().unwrap_or([0; 4]));
        let body = &data[HEADER..];
        if body.len() as u64 != len {
            return Err(bad(format!("torn: {} of {len} body bytes", body.len())));
        }
        if crc32fast::hash(body) != crc {
            return Err(bad("checksum mismatch".into()));
        }
        Ok(Batch { body: bytes::Bytes::copy_from_slice(body), records, encoding })
    }

    /// Removes an acknowledged batch.
    pub fn remove(entry: &SpoolEntry) -> std::io::Result<()> {
        fs::remove_file(&entry.path)
    }

    /// Moves a corrupt file out of the way (kept for inspection, never read again).
    pub fn quarantine(entry: &SpoolEntry) -> std::io::Result<()> {
        fs::rename(&entry.path, entry.path.with_extension("corrupt"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_a_torn_one_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, old) = Spool::open(dir.path()).unwrap();
        assert!(old.is_empty());
        let batch = Batch { body: bytes::Bytes::from_static(b"hello body"), records: 3, encoding: Encoding::Json };
        let a = spool.write(&batch).unwrap();
        let b = spool.write(&batch).unwrap();
        let back = Spool::read(&a).unwrap();
        assert_eq!((back.body, back.records, back.encoding), (batch.body.clone(), 3, Encoding::Json));
        // Cut the second file short, as a power loss might.
        let data = fs::read(&b.path).unwrap();
        fs::write(&b.path, &data[..data.len() - 3]).unwrap();
        assert!(Spool::read(&b).unwrap_err().reason.contains("torn"));
        let (spool2, left) = Spool::open(dir.path()).unwrap();
        assert_eq!(left.len(), 2);
        // The count comes from the header, which the cut left intact.
        assert_eq!((left[0].records, left[1].records), (3, 3));
        fs::write(&b.path, &data[..5]).unwrap();
        assert_eq!(Spool::open(dir.path()).unwrap().1[1].records, 0, "no header, no count");
        assert!(Spool::read(&b).unwrap_err().reason.contains("cut short"));
        assert_eq!(spool2.next, 2);
        // Full length, one body byte flipped (a bad sector): the checksum catches it.
        let mut flipped = data.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x20;
        fs::write(&b.path, &flipped).unwrap();
        assert!(Spool::read(&b).unwrap_err().reason.contains("checksum"));
        // Not a spool file at all.
        fs::write(&b.path, b"GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!").unwrap();
        assert!(Spool::read(&b).unwrap_err().reason.contains("not a spool file"));
    }
}
