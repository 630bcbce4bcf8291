//! Plain HTTP/1.1 on loopback, for servers that play AWS or the Runtime API.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads one request; its head and body, or `None` when the peer closed.
pub async fn read_request(socket: &mut (impl AsyncRead + Unpin)) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[end + 4..end + 4 + length].to_vec()));
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// An HTTP/1.1 response with a body and extra header lines (each ending `\r\n`).
pub fn http(status: u16, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{headers}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Serves on a loopback port, from a thread and a runtime of its own (so a
/// test that blocks does not stop it): each connection goes to
/// `on_connection`, in a task of its own. Returns `http://127.0.0.1:<port>`.
pub fn serve<F, Fut>(on_connection: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(on_connection(socket));
            }
        });
    });
    url
}

/// A CloudFormation `ResponseURL` on loopback: each `PUT`'s head and parsed
/// body come out of the channel, once it has been answered.
pub fn response_url() -> (String, std::sync::mpsc::Receiver<(String, serde_json::Value)>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let origin = serve(move |mut socket| {
        let tx = tx.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            let Some((head, body)) = read_request(&mut socket).await else { return };
            let _ = socket.write_all(&http(200, "connection: close\r\n", b"")).await;
            let _ = tx.send((head, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)));
        }
    });
    (origin, rx)
}
