//! Bound listening sockets, shared across reloads. A component that is rebuilt on reload with
//! an endpoint it already listens on takes over the running socket (a duplicate of its file
//! descriptor) instead of binding again: the port never closes, connections waiting in the
//! kernel backlog are accepted by whichever instance is running, and clients never see a
//! refused connection.
//!
//! Sockets are keyed by owner (component ID) and endpoint, so only the *same* component can
//! take a socket over; two components configured on one port still fail with "address in use",
//! as at start-up. A socket stays open while any `ListenerLease` for it is alive.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, Weak};

/// Keeps a registered socket open while held (the serving task holds it until it ends).
#[derive(Clone, Debug)]
pub struct ListenerLease(#[allow(dead_code)] Arc<TcpListener>);

/// The registry: one per collector process.
#[derive(Debug, Default)]
pub struct ListenerRegistry {
    sockets: Mutex<HashMap<String, Weak<TcpListener>>>,
}

impl ListenerRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A listener for `endpoint` owned by `owner`: a duplicate of the socket this owner already
    /// listens on there, or a new socket from `bind`. `kind` separates an owner's several
    /// servers (`grpc`, `http`).
    pub fn listen(
        &self,
        owner: &str,
        kind: &str,
        endpoint: &str,
        bind: impl FnOnce() -> io::Result<TcpListener>,
    ) -> io::Result<(TcpListener, ListenerLease)> {
        let key = format!("{owner}\u{0}{kind}\u{0}{endpoint}");
        let mut g = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|_, w| w.strong_count() > 0);
        if let Some(master) = g.get(&key).and_then(Weak::upgrade) {
            let dup = master.try_clone()?;
            return Ok((dup, ListenerLease(master)));
        }
        let master = Arc::new(bind()?);
        let dup = master.try_clone()?;
        g.insert(key, Arc::downgrade(&master));
        Ok((dup, ListenerLease(master)))
    }

    /// How many sockets are open (for tests).
    pub fn open_count(&self) -> usize {
        let g = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        g.values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_any() -> io::Result<TcpListener> {
        TcpListener::bind("127.0.0.1:0")
    }

    #[test]
    fn same_owner_takes_the_socket_over() {
        let reg = ListenerRegistry::new();
        let (a, lease_a) = reg.listen("otlp", "grpc", "127.0.0.1:0", bind_any).unwrap();
        let port = a.local_addr().unwrap().port();
        let (b, lease_b) = reg
            .listen("otlp", "grpc", "127.0.0.1:0", || {
                panic!("must not bind again")
            })
            .unwrap();
        assert_eq!(b.local_addr().unwrap().port(), port);
        // The first user goes away; the socket stays open for the second.
        drop((a, lease_a));
        let client = std::net::TcpStream::connect(("127.0.0.1", port));
        assert!(client.is_ok(), "the port must still accept");
        drop((b, lease_b));
        assert_eq!(reg.open_count(), 0);
        // Once every lease is gone, the next listen binds anew.
        let (c, _l) = reg.listen("otlp", "grpc", "127.0.0.1:0", bind_any).unwrap();
        assert!(c.local_addr().is_ok());
    }

    #[test]
    fn other_owners_bind_their_own() {
        let reg = ListenerRegistry::new();
        let (a, _la) = reg.listen("otlp", "grpc", "127.0.0.1:0", bind_any).unwrap();
        let addr = a.local_addr().unwrap();
        let err = reg
            .listen("otlp/2", "grpc", "127.0.0.1:0", || TcpListener::bind(addr))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
