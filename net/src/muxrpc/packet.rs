//! The packet-stream codec: 9-byte headers (flags, u32 BE length, i32 BE request number) + body.

use serde_json::Value;

use crate::error::{Error, Result};

/// Length of a packet header.
pub const HEADER_LEN: usize = 9;
/// Flag bit: the packet belongs to a stream.
const STREAM: u8 = 0b1000;
/// Flag bit: the packet ends a stream or carries an error.
const END: u8 = 0b0100;
/// Mask of the body-type bits.
const TYPE_MASK: u8 = 0b0011;

/// A packet body, tagged with its wire body type.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Body type 0: raw bytes.
    Binary(Vec<u8>),
    /// Body type 1: UTF-8 text.
    Text(String),
    /// Body type 2: JSON.
    Json(Value),
}

impl Body {
    fn type_bits(&self) -> u8 {
        match self {
            Self::Binary(_) => 0,
            Self::Text(_) => 1,
            Self::Json(_) => 2,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Binary(b) => b.clone(),
            Self::Text(s) => s.as_bytes().to_vec(),
            Self::Json(v) => serde_json::to_vec(v).expect("a serde_json::Value always serialises"),
        }
    }

    pub(crate) fn decode(type_bits: u8, bytes: Vec<u8>) -> Result<Self> {
        match type_bits {
            0 => Ok(Self::Binary(bytes)),
            1 => String::from_utf8(bytes)
                .map(Self::Text)
                .map_err(|_| Error::BadPacket("UTF-8 body is not valid UTF-8".into())),
            2 => serde_json::from_slice(&bytes)
                .map(Self::Json)
                .map_err(|e| Error::BadPacket(format!("JSON body does not parse: {e}"))),
            _ => Err(Error::BadPacket(format!("unknown body type {type_bits}"))),
        }
    }

    /// The body as JSON: text becomes a JSON string; binary is refused.
    pub fn into_value(self) -> Option<Value> {
        match self {
            Self::Json(v) => Some(v),
            Self::Text(s) => Some(Value::String(s)),
            Self::Binary(_) => None,
        }
    }
}

/// One packet-stream packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Part of a stream (flag bit 3).
    pub stream: bool,
    /// End of a stream, or an error (flag bit 2).
    pub end: bool,
    /// Request number: positive for requests, negated for replies.
    pub req: i32,
    /// The body.
    pub body: Body,
}

/// Appends the wire form of a stream packet (not an end) whose body is JSON already encoded as
/// `json` (one JSON value; not checked) to `out`.
pub fn encode_json_item(req: i32, json: &[u8], out: &mut Vec<u8>) {
    if json.is_empty() {
        return encode_json_item(req, b"\"\"", out);
    }
    let len = u32::try_from(json.len()).expect("bodies are far below 4 GiB");
    out.push(STREAM | 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&req.to_be_bytes());
    out.extend_from_slice(json);
}

impl Packet {
    /// Appends the wire form of the packet to `out`. An empty body is sent as the JSON `""`,
    /// because the protocol never carries an empty body (9 zero bytes mean goodbye).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (mut body, mut bits) = (self.body.encode(), self.body.type_bits());
        if body.is_empty() {
            (body, bits) = (b"\"\"".to_vec(), 2);
        }
        let flags = (u8::from(self.stream) * STREAM) | (u8::from(self.end) * END) | bits;
        let len = u32::try_from(body.len()).expect("bodies are far below 4 GiB");
        out.push(flags);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.req.to_be_bytes());
        out.extend_from_slice(&body);
    }
}

/// A decoded packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    flags: u8,
    /// Body length.
    pub len: usize,
    req: i32,
}

impl Header {
    /// Parses a header; `None` for the goodbye header (9 zero bytes).
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Self> {
        if bytes.iter().all(|&b| b == 0) {
            return None;
        }
        let len = u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes"));
        let req = i32::from_be_bytes(bytes[5..9].try_into().expect("4 bytes"));
        Some(Self {
            flags: bytes[0],
            len: len as usize,
            req,
        })
    }

    /// Part of a stream.
    pub fn is_stream(&self) -> bool {
        self.flags & STREAM != 0
    }

    /// Ends a stream or carries an error.
    pub fn is_end(&self) -> bool {
        self.flags & END != 0
    }

    /// The request number.
    pub fn req(&self) -> i32 {
        self.req
    }

    /// The body type (0 binary, 1 text, 2 JSON); 3 is not a valid type.
    pub fn body_type(&self) -> u8 {
        self.flags & TYPE_MASK
    }

    /// Builds the packet from this header and its body bytes.
    pub fn packet(self, body: Vec<u8>) -> Result<Packet> {
        Ok(Packet {
            stream: self.flags & STREAM != 0,
            end: self.flags & END != 0,
            req: self.req,
            body: Body::decode(self.flags & TYPE_MASK, body)?,
        })
    }
}

/// The goodbye packet: 9 zero bytes.
pub const GOODBYE: [u8; HEADER_LEN] = [0; HEADER_LEN];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(p: &Packet) -> Packet {
        let mut wire = Vec::new();
        p.encode_into(&mut wire);
        let header = Header::parse(wire[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(header.len, wire.len() - HEADER_LEN);
        header.packet(wire[HEADER_LEN..].to_vec()).unwrap()
    }

    #[test]
    fn header_layout_matches_the_protocol_guide() {
        let p = Packet {
            stream: true,
            end: false,
            req: 2,
            body: Body::Json(json!({"a":1})),
        };
        let mut wire = Vec::new();
        p.encode_into(&mut wire);
        assert_eq!(&wire[..HEADER_LEN], &[0b1010, 0, 0, 0, 7, 0, 0, 0, 2]);
        let reply = Packet {
            stream: false,
            end: true,
            req: -2,
            body: Body::Text("x".into()),
        };
        wire.clear();
        reply.encode_into(&mut wire);
        assert_eq!(
            &wire[..HEADER_LEN],
            &[0b0101, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]
        );
    }

    #[test]
    fn bodies_round_trip() {
        for body in [
            Body::Binary(vec![1, 2, 3]),
            Body::Text("héllo".into()),
            Body::Json(json!([1, "a", null])),
        ] {
            let p = Packet {
                stream: false,
                end: true,
                req: -7,
                body,
            };
            assert_eq!(round_trip(&p), p);
        }
    }

    #[test]
    fn empty_bodies_are_never_sent() {
        let p = Packet {
            stream: true,
            end: false,
            req: 1,
            body: Body::Text(String::new()),
        };
        assert_eq!(round_trip(&p).body, Body::Json(json!("")));
    }

    #[test]
    fn goodbye_and_bad_bodies() {
        assert_eq!(Header::parse(&GOODBYE), None);
        let h = Header::parse(&[3, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        assert!(matches!(h.packet(vec![0]), Err(Error::BadPacket(_))));
        let h = Header::parse(&[2, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        assert!(matches!(h.packet(b"{".to_vec()), Err(Error::BadPacket(_))));
        let h = Header::parse(&[1, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        assert!(matches!(h.packet(vec![0xff]), Err(Error::BadPacket(_))));
    }
}
