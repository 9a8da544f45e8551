//! The platform switch: wall-clock time for the browser and for native builds. LDK without
//! `std` never reads a clock itself; every time it needs comes from here (DESIGN.md §1).

use core::time::Duration;

/// Time since the Unix epoch. In the browser `Date.now()` (millisecond resolution), natively
/// `SystemTime::now()`, which panics on wasm32-unknown-unknown and so is never used there.
pub fn now() -> Duration {
    #[cfg(target_arch = "wasm32")]
    {
        let ms = js_sys::Date::now();
        // Date.now() is a non-negative integral number of milliseconds.
        Duration::from_millis(ms.max(0.0) as u64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2024_and_moves_forward() {
        let a = super::now();
        assert!(a.as_secs() > 1_704_067_200, "{a:?}");
        let b = super::now();
        assert!(b >= a);
    }
}
