//! Batches: records encoded into one request body, and the encoders that
//! build them (one per wire format).

use bytes::Bytes;
use wasmhost_log::LogRecord;

/// How a batch's body is encoded; stored in the spool with the body, so a
/// body spooled by one run is sent with the right content type by the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Protocol buffers.
    Protobuf,
    /// JSON.
    Json,
}

impl Encoding {
    /// The byte the spool stores.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Encoding::Protobuf => 0,
            Encoding::Json => 1,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<Encoding> {
        match tag {
            0 => Some(Encoding::Protobuf),
            1 => Some(Encoding::Json),
            _ => None,
        }
    }
}

/// Records encoded into one uncompressed request body.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The body, before any compression.
    pub body: Bytes,
    /// Records in it.
    pub records: u64,
    /// How the body is encoded.
    pub encoding: Encoding,
}

/// Builds batches in one wire format. The sink thread pushes records; the
/// batch is taken when it is big or old enough.
pub trait Encoder: Send {
    /// Adds one record.
    fn push(&mut self, record: &LogRecord);
    /// Records pushed since the last [`Encoder::take`].
    fn records(&self) -> u64;
    /// About how many bytes the body would have now.
    fn size(&self) -> usize;
    /// Encodes what was pushed and starts over.
    fn take(&mut self) -> Batch;
}

/// Nanoseconds since the Unix epoch (0 before it).
pub(crate) fn unix_nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
