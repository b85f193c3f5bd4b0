//! Multiserver addresses: `net:HOST:PORT~shs:BASE64KEY`.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;

use crate::error::Error;

/// A TCP + secret-handshake multiserver address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The peer's long-term public key.
    pub key: VerifyingKey,
}

impl MultiAddr {
    /// `host:port`, bracketing IPv6 addresses, for [`tokio::net::TcpStream::connect`].
    pub fn socket_addr(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Display for MultiAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "net:{}:{}~shs:{}",
            self.host,
            self.port,
            STANDARD.encode(self.key.as_bytes())
        )
    }
}

fn parse_one(addr: &str) -> Result<MultiAddr, &'static str> {
    let (net, shs) = addr.split_once('~').ok_or("missing `~shs:` part")?;
    let hostport = net
        .strip_prefix("net:")
        .ok_or("only `net:` transports are supported")?;
    let (host, port) = hostport.rsplit_once(':').ok_or("missing port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("empty host");
    }
    let port = port
        .parse()
        .map_err(|_| "port is not a number in 0..=65535")?;
    let key = shs
        .strip_prefix("shs:")
        .ok_or("only `shs:` protocols are supported")?;
    let key = key.split(':').next().unwrap_or(key);
    let key = key.strip_prefix('@').unwrap_or(key);
    let key = key.strip_suffix(".ed25519").unwrap_or(key);
    let bytes: [u8; 32] = STANDARD
        .decode(key)
        .map_err(|_| "key is not base64")?
        .try_into()
        .map_err(|_| "key is not 32 bytes")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "key is not an ed25519 public key")?;
    Ok(MultiAddr {
        host: host.to_owned(),
        port,
        key,
    })
}

impl FromStr for MultiAddr {
    type Err = Error;

    /// Parses an address; of a `;`-separated list, the first `net:…~shs:…` one is used.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut first_err = "empty address";
        for (i, part) in s.split(';').enumerate() {
            match parse_one(part.trim()) {
                Ok(a) => return Ok(a),
                Err(e) if i == 0 => first_err = e,
                Err(_) => {}
            }
        }
        Err(Error::BadAddress {
            addr: s.to_owned(),
            reason: first_err,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base64 public key of the seed-2 test key.
    fn key() -> String {
        STANDARD.encode(
            ed25519_dalek::SigningKey::from_bytes(&[2; 32])
                .verifying_key()
                .as_bytes(),
        )
    }

    #[test]
    fn parses_and_prints() {
        let text = format!("net:127.0.0.1:8008~shs:{}", key());
        let a: MultiAddr = text.parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 8008));
        assert_eq!(a.to_string(), text);
        assert_eq!(a.socket_addr(), "127.0.0.1:8008");
    }

    #[test]
    fn accepts_ipv6_and_lists() {
        let a: MultiAddr = format!("ws:foo~noauth;net:::1:9000~shs:{}", key())
            .parse()
            .unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 9000));
        assert_eq!(a.socket_addr(), "[::1]:9000");
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        for (text, reason) in [
            ("net:host:8008", "missing `~shs:` part"),
            (
                &format!("net:host:x~shs:{}", key()),
                "port is not a number in 0..=65535",
            ),
            ("net:host:1~shs:AAAA", "key is not 32 bytes"),
            (
                &format!("tcp:host:1~shs:{}", key()),
                "only `net:` transports are supported",
            ),
        ] {
            let err = text.parse::<MultiAddr>().unwrap_err();
            assert!(
                matches!(&err, Error::BadAddress { reason: r, .. } if *r == reason),
                "{text}: {err}"
            );
        }
    }
}
