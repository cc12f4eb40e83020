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

/// Cuts `groups` (streams, resources, scopes: each holding `len(g)`
/// records, oldest first) after their first `n` records: the groups before
/// the cut, and the groups from it on. A group that straddles the cut is
/// split in two by `cut(g, k)`, which keeps its first `k` records in `g`
/// and returns the rest as a group with the same identity (labels,
/// resource, scope). Order within every group is kept.
pub(crate) fn cut_groups<G>(groups: Vec<G>, mut n: usize, len: impl Fn(&G) -> usize, cut: impl Fn(&mut G, usize) -> G) -> (Vec<G>, Vec<G>) {
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for mut g in groups {
        let l = len(&g);
        if n >= l {
            n -= l;
            first.push(g);
        } else if n == 0 {
            rest.push(g);
        } else {
            let tail = cut(&mut g, n);
            n = 0;
            first.push(g);
            rest.push(tail);
        }
    }
    (first, rest)
}

/// The two batches a split makes: `first` holds the older `total / 2` of
/// the `total` records, `rest` the others, both in `encoding`.
pub(crate) fn halves(encoding: Encoding, first: Vec<u8>, rest: Vec<u8>, total: usize) -> (Batch, Batch) {
    let half = (total / 2) as u64;
    (Batch { body: first.into(), records: half, encoding }, Batch { body: rest.into(), records: total as u64 - half, encoding })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_cut_after_n_records_keeping_order() {
        let groups = vec![("a", vec![1, 2, 3]), ("b", vec![4]), ("c", vec![5, 6])];
        let cut = |g: &mut (&'static str, Vec<i32>), k: usize| (g.0, g.1.split_off(k));
        let (first, rest) = cut_groups(groups.clone(), 2, |g| g.1.len(), cut);
        assert_eq!(first, [("a", vec![1, 2])]);
        assert_eq!(rest, [("a", vec![3]), ("b", vec![4]), ("c", vec![5, 6])]);
        let (first, rest) = cut_groups(groups.clone(), 4, |g| g.1.len(), cut);
        assert_eq!((first.len(), rest), (2, vec![("c", vec![5, 6])]));
        let (first, rest) = cut_groups(groups, 0, |g| g.1.len(), cut);
        assert_eq!((first.len(), rest.len()), (0, 3));
    }
}
