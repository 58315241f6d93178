//! The accept loop: every connection a task on the one thread, at most
//! `cap` at once. Past that a connection is told 503 and closed at once, so
//! neither a burst nor a crowd of idle clients can exhaust threads or files.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::http::{self, Site};

pub async fn serve(listener: TcpListener, site: Arc<Site>, cap: usize) {
    let slots = Arc::new(Semaphore::new(cap));
    let busy = http::head("503 Service Unavailable", http::TEXT, 0, &site.csp);
    // Whether the last connection found every slot taken: said once per spell.
    let mut full = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of files, most likely: the connection waits in the
                // backlog while others close.
                eprintln!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full {
                eprintln!("all {cap} connections busy: answering 503 until one closes");
                full = true;
            }
            // A fresh socket's send buffer takes the head without waiting.
            let _ = stream.try_write(busy.as_bytes());
            continue;
        };
        full = false;
        let site = site.clone();
        tokio::spawn(async move {
            http::answer(stream, &site).await;
            drop(slot);
        });
    }
}
