//! `skelact monitor`'s model and drawing, apart from the terminal and the socket so that tests render it
//! headless: [`snapshot`] parses the daemon's lines (`skelact_device::daemon::monitor`), [`view`] keeps what the
//! screen shows (the latest snapshot, the confidence history, the connection), [`render`] draws it with ratatui.

pub mod render;
pub mod snapshot;
pub mod view;
