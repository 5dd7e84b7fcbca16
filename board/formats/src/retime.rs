//! A recording played back as if a sensor of another rate had captured it: `skelact convert --rate HZ [--jitter
//! MS]`. It is how the device's time-based windows are tested at 15, 60 and 120 Hz and at a variable rate with the
//! same real recordings, and how an integrator can try their sensor's rate before they have the sensor.
//!
//! The new frames sit at `t0 + k / rate` (plus, with a jitter, an offset drawn evenly from ±jitter by a seeded
//! generator, so the same arguments give the same file). Each body in a new frame is the linear interpolation, joint
//! by joint, of the same body in the two recorded frames around that time; a body only one of them holds is taken
//! from the nearer frame when that frame is the nearer one, and left out otherwise. An interpolated joint has the
//! lower of the two confidences. The `Hello` announces the new rate.

use skelact_runtime::heapless;
use skelact_runtime::rng::SplitMix64;
use skelact_runtime::wire::{Body, Frame, Hello, Joint, Message};

/// How to retime a recording.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retime {
    /// The new frame rate in Hz, in 1..=1000.
    pub rate_hz: f64,
    /// Largest offset of a frame from its even time, in ms (0 for a steady rate). Must stay below half a period.
    pub jitter_ms: f64,
    /// Seed of the jitter.
    pub seed: u64,
}

/// Why a recording could not be retimed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RetimeError {
    #[error("--rate must be in 1..=1000 Hz, not {0}")]
    Rate(f64),
    #[error(
        "--jitter {jitter_ms} ms must be under half the new period ({half_period_ms:.3} ms), or frames would swap"
    )]
    Jitter { jitter_ms: f64, half_period_ms: f64 },
    #[error("the recording has no frames to retime")]
    NoFrames,
}

/// The recording's messages retimed to `retime`: one `Hello` (the recording's first, or none) announcing the new
/// rate, then the new frames. Heartbeats and later `Hello`s are dropped; a recording that changes sensor settings
/// midway should be split first.
pub fn retime(messages: &[Message], retime: &Retime) -> Result<Vec<Message>, RetimeError> {
    if !(1.0..=1000.0).contains(&retime.rate_hz) {
        return Err(RetimeError::Rate(retime.rate_hz));
    }
    let period_us = 1e6 / retime.rate_hz;
    if !(0.0..period_us / 2000.0).contains(&retime.jitter_ms) {
        return Err(RetimeError::Jitter { jitter_ms: retime.jitter_ms, half_period_ms: period_us / 2000.0 });
    }
    let frames: Vec<&Frame> =
        messages.iter().filter_map(|m| if let Message::Frame(f) = m { Some(f) } else { None }).collect();
    let (first, last) = match (frames.first(), frames.last()) {
        (Some(first), Some(last)) => (first.timestamp_us, last.timestamp_us),
        _ => return Err(RetimeError::NoFrames),
    };
    let mut out = Vec::new();
    if let Some(hello) = messages.iter().find_map(|m| if let Message::Hello(h) = m { Some(h) } else { None }) {
        out.push(Message::Hello(Hello {
            nominal_fps_millihertz: (retime.rate_hz * 1000.0).round() as u32,
            ..hello.clone()
        }));
    }
    let mut random = SplitMix64(retime.seed);
    let mut next = 0; // index of the first recorded frame at or after the new frame's time
    let span_us = (last - first) as f64;
    let count = (span_us / period_us).floor() as u64 + 1;
    for k in 0..count {
        let even = k as f64 * period_us;
        let offset = if retime.jitter_ms > 0.0 { (random.unit() * 2.0 - 1.0) * retime.jitter_ms * 1000.0 } else { 0.0 };
        let t = first as f64 + (even + offset).clamp(0.0, span_us);
        while next < frames.len() && (frames[next].timestamp_us as f64) < t {
            next += 1;
        }
        let after = frames[next.min(frames.len() - 1)];
        let before = frames[next.saturating_sub(1)];
        let sequence = u32::try_from(k).unwrap_or(u32::MAX);
        out.push(Message::Frame(between(before, after, t, sequence)));
    }
    Ok(out)
}

/// The frame at time `t` between two recorded frames.
fn between(before: &Frame, after: &Frame, t: f64, sequence: u32) -> Frame {
    let (t0, t1) = (before.timestamp_us as f64, after.timestamp_us as f64);
    let w = if t1 > t0 { ((t - t0) / (t1 - t0)).clamp(0.0, 1.0) as f32 } else { 0.0 };
    let nearer = if w <= 0.5 { before } else { after };
    let mut bodies: heapless::Vec<Body, { skelact_runtime::wire::MAX_BODIES }> = heapless::Vec::new();
    for body in &nearer.bodies {
        let other = if w <= 0.5 { after } else { before };
        let partner = other.bodies.iter().find(|b| b.id == body.id && b.joints.len() == body.joints.len());
        let joints = match partner {
            Some(partner) => {
                let (a, b) = if w <= 0.5 { (body, partner) } else { (partner, body) };
                a.joints.iter().zip(&b.joints).map(|(p, q)| lerp(p, q, w)).collect()
            }
            None => body.joints.clone(),
        };
        // `nearer` holds at most MAX_BODIES bodies, so this cannot fail.
        let _ = bodies.push(Body { id: body.id, joints });
    }
    Frame { sequence, timestamp_us: t.round() as u64, bodies }
}

fn lerp(p: &Joint, q: &Joint, w: f32) -> Joint {
    Joint {
        x: p.x + (q.x - p.x) * w,
        y: p.y + (q.y - p.y) * w,
        z: p.z + (q.z - p.z) * w,
        confidence: p.confidence.min(q.confidence),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use skelact_runtime::wire::{Axes, LayoutId, Units};

    fn frame(sequence: u32, timestamp_us: u64, x: f32) -> Message {
        let mut joints = heapless::Vec::new();
        joints.push(Joint { x, y: 0.0, z: 2.0, confidence: 255 }).unwrap();
        let mut bodies = heapless::Vec::new();
        bodies.push(Body { id: 4, joints }).unwrap();
        Message::Frame(Frame { sequence, timestamp_us, bodies })
    }

    fn recording() -> Vec<Message> {
        let hello = Hello {
            protocol_major: 1,
            protocol_minor: 0,
            layout: LayoutId::OpenNi15,
            units: Units::Metres,
            axes: Axes::XLeftYUpZForward,
            nominal_fps_millihertz: 30_000,
            sensor_name: heapless::String::new(),
        };
        // x moves 1 unit per frame at 30 Hz.
        std::iter::once(Message::Hello(hello))
            .chain((0..31).map(|i| frame(i, u64::from(i) * 33_333, i as f32)))
            .collect()
    }

    fn xs(messages: &[Message]) -> Vec<(u64, f32)> {
        messages
            .iter()
            .filter_map(
                |m| if let Message::Frame(f) = m { Some((f.timestamp_us, f.bodies[0].joints[0].x)) } else { None },
            )
            .collect()
    }

    #[test]
    fn a_faster_rate_interpolates_and_a_slower_one_samples() {
        let fast = retime(&recording(), &Retime { rate_hz: 120.0, jitter_ms: 0.0, seed: 0 }).unwrap();
        let Message::Hello(hello) = &fast[0] else { panic!("a Hello first") };
        assert_eq!(hello.nominal_fps_millihertz, 120_000);
        let got = xs(&fast);
        assert_eq!(got.len(), 120, "999 990 µs at 120 Hz");
        assert!(got.iter().all(|&(t, x)| (x - t as f32 / 33_333.0).abs() < 1e-3), "{:?}", &got[..6]);
        let slow = xs(&retime(&recording(), &Retime { rate_hz: 15.0, jitter_ms: 0.0, seed: 0 }).unwrap());
        assert_eq!(slow.len(), 15);
        assert!(slow.iter().enumerate().all(|(k, &(_, x))| (x - 2.0 * k as f32).abs() < 1e-3), "{slow:?}");
    }

    #[test]
    fn jitter_is_seeded_bounded_and_keeps_the_order() {
        let options = Retime { rate_hz: 30.0, jitter_ms: 8.0, seed: 5 };
        let a = xs(&retime(&recording(), &options).unwrap());
        assert_eq!(a, xs(&retime(&recording(), &options).unwrap()), "the same seed, the same file");
        assert!(a.windows(2).all(|w| w[1].0 > w[0].0));
        assert!(a.iter().enumerate().all(|(k, &(t, _))| (t as f64 - k as f64 * 33_333.3).abs() <= 8_001.0));
        assert!(a.iter().any(|&(t, _)| t % 33_333 > 1_000), "some frames moved");
    }

    #[test]
    fn bad_settings_are_refused() {
        let refused = |rate_hz, jitter_ms| retime(&recording(), &Retime { rate_hz, jitter_ms, seed: 0 }).unwrap_err();
        assert_eq!(refused(0.5, 0.0), RetimeError::Rate(0.5));
        assert!(matches!(refused(60.0, 9.0), RetimeError::Jitter { .. }));
        assert_eq!(retime(&[], &Retime { rate_hz: 30.0, jitter_ms: 0.0, seed: 0 }), Err(RetimeError::NoFrames));
    }
}
