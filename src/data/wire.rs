//! Protobuf wire helpers shared by the hand-written encoders (export requests, the
//! prometheus receiver's resources): lengths of length-delimited fields and string
//! attributes, written exactly as prost writes them (proto3 defaults skipped, a oneof
//! string always written).

use bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

/// The size of a length-delimited field holding `len` bytes, key and prefix included.
pub fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// The size of a string field (nothing when empty).
pub fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        delimited_len(tag, s.len())
    }
}

/// Writes the key and length prefix of a length-delimited field.
pub fn open(tag: u32, len: usize, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// Writes a varint field (also when zero: callers skip proto3 defaults themselves).
pub fn write_varint(tag: u32, v: u64, buf: &mut impl BufMut) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(v, buf);
}

/// Writes a string field (nothing when empty).
pub fn write_string(tag: u32, s: &str, buf: &mut impl BufMut) {
    if !s.is_empty() {
        open(tag, s.len(), buf);
        buf.put_slice(s.as_bytes());
    }
}

/// The body size of `KeyValue { key, value: AnyValue { string_value } }`.
fn string_kv_body_len(key: &str, value: &str) -> usize {
    string_len(1, key) + delimited_len(2, delimited_len(1, value.len()))
}

/// The size of a string `KeyValue` written as field `tag`.
pub fn string_kv_len(tag: u32, key: &str, value: &str) -> usize {
    delimited_len(tag, string_kv_body_len(key, value))
}

/// Writes a string `KeyValue` as field `tag` (the bytes prost writes for
/// `crate::data::string_kv(key, value)`).
pub fn write_string_kv(tag: u32, key: &str, value: &str, buf: &mut impl BufMut) {
    open(tag, string_kv_body_len(key, value), buf);
    write_string(1, key, buf);
    open(2, delimited_len(1, value.len()), buf);
    open(1, value.len(), buf);
    buf.put_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn string_kv_is_written_as_prost_writes_it() {
        for (k, v) in [
            ("pod", "app-001"),
            ("", "x"),
            ("k", ""),
            ("long", &"v".repeat(300)),
        ] {
            let kv = crate::data::string_kv(k, v);
            let mut ours = Vec::new();
            write_string_kv(7, k, v, &mut ours);
            let mut theirs = Vec::new();
            prost::encoding::message::encode(7, &kv, &mut theirs);
            assert_eq!(ours, theirs, "{k}={v}");
            assert_eq!(string_kv_len(7, k, v), theirs.len());
            assert_eq!(delimited_len(7, kv.encoded_len()), theirs.len(), "{k}={v}");
        }
    }
}
