//! A file transport that rotates by size: `app.log` → `app.log.1` → … →
//! `app.log.N`, keeping N old files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends to a file; when a write would take it past `max_bytes`, the file
/// is first rotated. Each write lands whole in one file, so a sink that
/// writes whole lines never splits one across files.
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("rotate-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let mut f = wasmhost_log::RotatingFile::open(&dir.join("app.log"), 10, 2).unwrap();
/// for _ in 0..4 {
///     f.write_all(b"12345678\\n").unwrap();
/// }
/// assert!(dir.join("app.log.2").exists() && !dir.join("app.log.3").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (appends to) `path`, rotating past `max_bytes`, keeping `keep`
    /// old files (0: the file is truncated instead of kept).
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_owned(), file, size, max_bytes: max_bytes.max(1), keep })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
