//! Placeholder: filled in by the runtime-core work (issue 2).
