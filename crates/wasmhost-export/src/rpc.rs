//! The few `google.rpc` wire messages OTLP uses to say why a request failed:
//! `Status` (the body of an OTLP/HTTP 4xx/5xx answer, and gRPC's
//! `grpc-status-details-bin`), `Any`, and `RetryInfo` (the server's "retry
//! after this long", OTLP/gRPC's throttling signal). Field numbers are those
//! of googleapis' `google/rpc/status.proto`, `google/rpc/error_details.proto`
//! and `google/protobuf/{any,duration}.proto`; three small messages do not
//! warrant another crate (`tonic-types` brings `prost-types` and more).

use std::time::Duration;

/// The full name of `RetryInfo`, the last segment of its `Any.type_url`
/// (`type.googleapis.com/google.rpc.RetryInfo`).
const RETRY_INFO: &str = "google.rpc.RetryInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    /// A `google.rpc.Code` (OTLP/HTTP servers may leave it 0).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Details such as `RetryInfo` or `BadRequest`.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    /// `type.googleapis.com/<full message name>`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The packed message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds on top.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    /// A status carrying `RetryInfo { retry_delay: delay }` when `delay` is given.
    #[cfg(any(test, feature = "receivers"))]
    pub(crate) fn new(code: i32, message: &str, delay: Option<Duration>) -> RpcStatus {
        let details = delay
            .map(|d| {
                let info = RetryInfo {
                    retry_delay: Some(ProtoDuration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }),
                };
                ProtoAny { type_url: format!("type.googleapis.com/{RETRY_INFO}"), value: prost::Message::encode_to_vec(&info) }
            })
            .into_iter()
            .collect();
        RpcStatus { code, message: message.to_owned(), details }
    }

    /// The `RetryInfo` delay, if the status carries a `RetryInfo` (which
    /// says the server can recover, even with no or a zero delay).
    pub(crate) fn retry_info(&self) -> Option<Duration> {
        self.details.iter().filter(|d| d.type_url.rsplit('/').next() == Some(RETRY_INFO)).find_map(|d| {
            let info: RetryInfo = prost::Message::decode(d.value.as_slice()).ok()?;
            let delay = info.retry_delay.unwrap_or_default();
            Some(Duration::from_secs(delay.seconds.max(0) as u64) + Duration::from_nanos(delay.nanos.max(0) as u64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips() {
        let status = RpcStatus::new(14, "busy", Some(Duration::from_millis(1500)));
        let bytes = prost::Message::encode_to_vec(&status);
        let back: RpcStatus = prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.message, "busy");
        assert_eq!(back.retry_info(), Some(Duration::from_millis(1500)));
        assert_eq!(RpcStatus::new(14, "busy", None).retry_info(), None);
        assert_eq!(RpcStatus::new(14, "busy", Some(Duration::ZERO)).retry_info(), Some(Duration::ZERO), "present, no delay");
    }
}
