//! GPIO outputs: one line per action, high while a segment of that action is open.
//!
//! The hardware boundary is embedded-hal 1.0's [`OutputPin`]. On Linux, [`CdevPin`] drives a line of a GPIO
//! character device (`/dev/gpiochipN`, uAPI v2); [`MemoryPin`] is an in-memory pin that remembers every level it
//! was set to, for host tests. [`ActionPins`] maps events to levels: a line goes high at an action's `Begin` and
//! low when the last open segment of that action (of any body) ends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};
use skelact_runtime::wire::{Event, EventPhase};

/// An output line driven by level, as the daemon needs it (object-safe, unlike [`OutputPin`] itself).
pub trait Line: Send + std::fmt::Debug {
    /// Drives the line to its active (`true`) or inactive level; the message says why it failed.
    fn set(&mut self, active: bool) -> Result<(), String>;
}

/// Every embedded-hal output pin is a [`Line`].
#[derive(Debug)]
pub struct HalLine<P>(pub P);

impl<P: OutputPin + Send + std::fmt::Debug> Line for HalLine<P> {
    fn set(&mut self, active: bool) -> Result<(), String> {
        let result = if active { self.0.set_high() } else { self.0.set_low() };
        result.map_err(|e| format!("{:?}", embedded_hal::digital::Error::kind(&e)))
    }
}

/// One action's line.
#[derive(Debug)]
struct ActionLine {
    action_id: u16,
    line: Box<dyn Line>,
    /// Bodies with an open segment of this action.
    open: BTreeSet<u32>,
    active: bool,
}

/// The lines of every configured action. Actions without a line are ignored.
#[derive(Debug, Default)]
pub struct ActionPins {
    lines: Vec<ActionLine>,
    errors: u64,
}

impl ActionPins {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the line of `action_id` and drives it inactive.
    pub fn add(&mut self, action_id: u16, mut line: Box<dyn Line>) -> Result<(), String> {
        line.set(false)?;
        self.lines.push(ActionLine { action_id, line, open: BTreeSet::new(), active: false });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Line writes that failed (each is logged once as it happens).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Follows one event: `Begin` opens the body's segment of that action, `End` closes it.
    pub fn on_event(&mut self, event: &Event) {
        for action in self.lines.iter_mut().filter(|l| l.action_id == event.action_id) {
            match event.phase {
                EventPhase::Begin => action.open.insert(event.body_id),
                EventPhase::End => action.open.remove(&event.body_id),
            };
            let active = !action.open.is_empty();
            if active != action.active {
                match action.line.set(active) {
                    Ok(()) => action.active = active,
                    Err(error) => {
                        self.errors += 1;
                        tracing::warn!(action_id = action.action_id, active, %error, "cannot drive the action's GPIO line");
                    }
                }
            }
        }
    }

    /// Drives every line inactive (at shutdown).
    pub fn release_all(&mut self) {
        for action in &mut self.lines {
            action.open.clear();
            if action.line.set(false).is_ok() {
                action.active = false;
            }
        }
    }
}

/// Why a [`MemoryPin`] write failed: never, but the trait wants a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPinError;

impl embedded_hal::digital::Error for MemoryPinError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// An in-memory output pin: clones share the level and the history of levels, so a test keeps one clone and hands
/// the other to the daemon.
#[derive(Clone, Debug, Default)]
pub struct MemoryPin {
    levels: Arc<Mutex<Vec<bool>>>,
}

impl MemoryPin {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every level written, in order (`true` = high).
    pub fn history(&self) -> Vec<bool> {
        self.levels.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The current level (low before any write).
    pub fn is_high(&self) -> bool {
        self.history().last().copied().unwrap_or(false)
    }

    fn push(&self, level: bool) {
        if let Ok(mut levels) = self.levels.lock() {
            levels.push(level);
        }
    }
}

impl ErrorType for MemoryPin {
    type Error = MemoryPinError;
}

impl OutputPin for MemoryPin {
    fn set_low(&mut self) -> Result<(), MemoryPinError> {
        self.push(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), MemoryPinError> {
        self.push(true);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
pub use cdev::{CdevPin, CdevPinError};

#[cfg(target_os = "linux")]
mod cdev {
    use std::path::Path;

    use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};
    use gpiocdev::line::Value;
    use gpiocdev::Request;

    /// Why a GPIO character-device request or write failed (gpiocdev's message).
    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    #[error("{0}")]
    pub struct CdevPinError(pub String);

    impl embedded_hal::digital::Error for CdevPinError {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    /// One output line of a Linux GPIO character device, requested for as long as the pin lives.
    #[derive(Debug)]
    pub struct CdevPin {
        request: Request,
        offset: u32,
    }

    impl CdevPin {
        /// Requests line `offset` of `chip` (e.g. `/dev/gpiochip0`) as an output, initially inactive. With
        /// `active_low`, "high" (active) drives the physical line low.
        pub fn request(chip: &Path, offset: u32, active_low: bool) -> Result<Self, CdevPinError> {
            let mut builder = Request::builder();
            builder.on_chip(chip).with_consumer("skelact").with_line(offset).as_output(Value::Inactive);
            if active_low {
                builder.as_active_low();
            }
            let request = builder
                .request()
                .map_err(|e| CdevPinError(format!("cannot request line {offset} of {}: {e}", chip.display())))?;
            Ok(CdevPin { request, offset })
        }

        fn set(&mut self, value: Value) -> Result<(), CdevPinError> {
            self.request
                .set_value(self.offset, value)
                .map(|_| ())
                .map_err(|e| CdevPinError(format!("cannot set line {}: {e}", self.offset)))
        }
    }

    impl ErrorType for CdevPin {
        type Error = CdevPinError;
    }

    impl OutputPin for CdevPin {
        fn set_low(&mut self) -> Result<(), CdevPinError> {
            self.set(Value::Inactive)
        }

        fn set_high(&mut self) -> Result<(), CdevPinError> {
            self.set(Value::Active)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body_id: u32, action_id: u16, phase: EventPhase) -> Event {
        Event { body_id, action_id, label_index: 0, confidence: 0.9, start_us: 0, end_us: 1, phase }
    }

    #[test]
    fn a_line_is_high_while_any_body_has_the_action_open() {
        let wave = MemoryPin::new();
        let clap = MemoryPin::new();
        let mut pins = ActionPins::new();
        pins.add(23, Box::new(HalLine(wave.clone()))).unwrap();
        pins.add(10, Box::new(HalLine(clap.clone()))).unwrap();
        pins.on_event(&event(1, 23, EventPhase::Begin));
        pins.on_event(&event(2, 23, EventPhase::Begin));
        pins.on_event(&event(1, 23, EventPhase::End));
        assert!(wave.is_high(), "body 2 still waves");
        pins.on_event(&event(2, 23, EventPhase::End));
        pins.on_event(&event(1, 99, EventPhase::Begin)); // no line for this action
        assert_eq!(wave.history(), [false, true, false]);
        assert_eq!(clap.history(), [false]);
        pins.on_event(&event(3, 10, EventPhase::Begin));
        pins.release_all();
        assert_eq!(clap.history(), [false, true, false]);
        assert_eq!(pins.errors(), 0);
    }
}
