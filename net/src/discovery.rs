//! Local discovery (opt-in): broadcast our multiserver address over UDP every second, and hear
//! other peers' broadcasts. Datagrams are `;`-separated multiserver addresses (ssb-server's
//! form); unparseable ones are ignored.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::addr::MultiAddr;
use crate::error::Result;

/// The UDP port SSB peers broadcast to and listen on.
pub const PORT: u16 = 8008;

/// The largest datagram read.
const MAX_DATAGRAM: usize = 2048;

/// Sends `addr` to `to` (e.g. `255.255.255.255:8008`) every `every`, until the task is dropped
/// or sending fails.
pub async fn announce(addr: &MultiAddr, to: SocketAddr, every: Duration) -> Result<()> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).await?;
    socket.set_broadcast(true)?;
    let text = addr.to_string();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        socket.send_to(text.as_bytes(), to).await?;
    }
}

/// Hears other peers' announcements.
#[derive(Debug)]
pub struct Discovery {
    socket: UdpSocket,
}

impl Discovery {
    /// Listens on `at` (e.g. `0.0.0.0:8008`).
    pub async fn bind(at: SocketAddr) -> Result<Discovery> {
        Ok(Discovery {
            socket: UdpSocket::bind(at).await?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// The next announced addresses (waits for a datagram holding at least one).
    pub async fn next(&self) -> Result<Vec<MultiAddr>> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).await?;
            let found = parse(&buf[..n]);
            if found.is_empty() {
                tracing::debug!(%from, "ignored a discovery datagram without an address");
                continue;
            }
            return Ok(found);
        }
    }
}

/// The multiserver addresses in one datagram.
pub fn parse(datagram: &[u8]) -> Vec<MultiAddr> {
    let Ok(text) = std::str::from_utf8(datagram) else {
        return Vec::new();
    };
    text.split(';')
        .filter_map(|part| part.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn parses_ssb_server_announcements() {
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let addr = MultiAddr {
            host: "192.168.1.5".into(),
            port: 8008,
            key,
        };
        let text = format!("{addr};ws://192.168.1.5:8989~shs:x");
        assert_eq!(parse(text.as_bytes()), vec![addr]);
        assert!(parse(b"\xff\xfe garbage").is_empty());
        assert!(parse(b"net:nohost~shs:").is_empty());
    }

    #[tokio::test]
    async fn announcements_are_heard_on_loopback() {
        let heard = Discovery::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let to = heard.local_addr().unwrap();
        let noise = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        noise.send_to(b"not an address", to).await.unwrap();
        let addr = MultiAddr {
            host: "127.0.0.1".into(),
            port: 9,
            key: SigningKey::from_bytes(&[4; 32]).verifying_key(),
        };
        let sending = addr.clone();
        let task =
            tokio::spawn(async move { announce(&sending, to, Duration::from_millis(20)).await });
        let found = tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, vec![addr]);
        task.abort();
    }
}
