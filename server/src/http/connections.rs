//! Caps on open connections, in total and per client address, so one host (or a flood of
//! them) cannot use up the server's file descriptors and memory. A connection holds a
//! [`Permit`] for its whole life; dropping it frees the slot.

use crate::lock::Unpoisoned;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The server is at `--max-connections`.
    #[error("the server is at its connection limit ({0})")]
    Total(u32),
    /// This address is at `--max-connections-per-address`.
    #[error("too many connections from this address (limit {0})")]
    PerAddress(u32),
}

/// Counts open connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    total_cap: u32,
    per_address_cap: u32,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: u32,
    by_address: HashMap<IpAddr, u32>,
}

impl ConnectionLimits {
    /// At most `total` connections, `per_address` from any one address.
    pub fn new(total: u32, per_address: u32) -> ConnectionLimits {
        ConnectionLimits {
            inner: Arc::new(Inner { total_cap: total, per_address_cap: per_address, open: Mutex::default() }),
        }
    }

    /// A slot for a connection from `ip`, or why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refused> {
        let ip = ip.to_canonical();
        let mut open = self.inner.open.locked();
        if open.total >= self.inner.total_cap {
            return Err(Refused::Total(self.inner.total_cap));
        }
        let from_ip = open.by_address.entry(ip).or_insert(0);
        if *from_ip >= self.inner.per_address_cap {
            return Err(Refused::PerAddress(self.inner.per_address_cap));
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Permit { limits: self.clone(), ip })
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        self.inner.open.locked().total
    }
}

/// One admitted connection; frees its slot when dropped.
#[derive(Debug)]
pub struct Permit {
    limits: ConnectionLimits,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limits.inner.open.locked();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_slots_come_back() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::PerAddress(2));
        // The IPv4-mapped spelling is the same host.
        assert_eq!(limits.admit("::ffff:192.0.2.1".parse().unwrap()).unwrap_err(), Refused::PerAddress(2));
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refused::Total(3));
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.admit(a).unwrap();
        assert_eq!(limits.open(), 3);
    }

    #[test]
    fn addresses_with_no_connection_are_forgotten() {
        let limits = ConnectionLimits::new(10, 10);
        for i in 0..5u8 {
            drop(limits.admit(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert!(limits.inner.open.lock().unwrap().by_address.is_empty());
        assert_eq!(limits.open(), 0);
    }
}
