//! What muxrpc runs over: an ordered stream of byte chunks each way (a box stream, or plain bytes).

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::boxstream::{BoxReader, BoxWriter};
use crate::error::Result;

/// The receiving half of a transport.
pub trait ChunkRead: Send + 'static {
    /// The next chunk of bytes; `Ok(None)` at a clean end.
    fn read_chunk(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
}

/// The sending half of a transport.
pub trait ChunkWrite: Send + 'static {
    /// Writes (and flushes) `data`.
    fn write_chunk(&mut self, data: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// Ends the transport cleanly (the box stream's goodbye).
    fn close(&mut self) -> impl Future<Output = Result<()>> + Send;
}

impl<R: AsyncRead + Unpin + Send + 'static> ChunkRead for BoxReader<R> {
    async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        self.recv().await
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> ChunkWrite for BoxWriter<W> {
    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.send(data).await
    }

    async fn close(&mut self) -> Result<()> {
        self.goodbye().await
    }
}

/// An unencrypted transport over any byte stream (for tests and local pipes).
#[derive(Debug)]
pub struct Plain<T>(pub T);

impl<R: AsyncRead + Unpin + Send + 'static> ChunkRead for Plain<R> {
    async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 8192];
        let n = self.0.read(&mut buf).await?;
        buf.truncate(n);
        Ok((n > 0).then_some(buf))
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> ChunkWrite for Plain<W> {
    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.0.write_all(data).await?;
        Ok(self.0.flush().await?)
    }

    async fn close(&mut self) -> Result<()> {
        Ok(self.0.shutdown().await?)
    }
}
