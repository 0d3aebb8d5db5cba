//! Locks that survive a panic elsewhere.
//!
//! A `std::sync::Mutex` is poisoned when a thread panics while holding it. Every mutex in the
//! server guards state that stays consistent between statements (a frame, a list, a sender),
//! so a panic in one viewer or camera thread must not take every later user of the lock down
//! with it: [`Unpoisoned::locked`] takes the lock whatever happened before.

use std::sync::{Mutex, MutexGuard};

/// See the module doc.
pub trait Unpoisoned<T> {
    /// The lock, poisoned or not.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Unpoisoned<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_still_usable() {
        let shared = std::sync::Arc::new(Mutex::new(1));
        let held = shared.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            panic!("while holding the lock");
        })
        .join();
        assert!(shared.is_poisoned());
        *shared.locked() += 1;
        assert_eq!(*shared.locked(), 2);
    }
}
