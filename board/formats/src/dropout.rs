//! Seeded joint dropout: marks a random share of a recording's joints as not tracked, as a sensor does when a joint
//! is occluded or leaves the field of view. `skelact eval --drop-joints` measures what missing joints cost a model
//! (and what REC recovers) on a real dataset, the device-side twin of `skelact_models.rec`'s random condition.

use skelact_runtime::wire::{Joint, Message};

use skelact_runtime::rng::SplitMix64;

/// Marks each joint of every frame as not tracked (confidence 0) with probability `rate`, drawn from a generator
/// seeded by `seed`, so the same call drops the same joints. Joints already untracked stay so and still draw, so
/// the pattern does not depend on the tracking. Returns how many joints it dropped. `rate` outside [0, 1] is
/// clamped.
pub fn drop_joints(messages: &mut [Message], rate: f64, seed: u64) -> usize {
    let rate = rate.clamp(0.0, 1.0);
    let mut rng = SplitMix64(seed ^ 0xD1B5_4A32_D192_ED03);
    let mut dropped = 0;
    for message in messages {
        let Message::Frame(frame) = message else { continue };
        for body in frame.bodies.iter_mut() {
            for joint in body.joints.iter_mut() {
                if rng.unit() < rate && joint.confidence != Joint::NOT_TRACKED {
                    joint.confidence = Joint::NOT_TRACKED;
                    dropped += 1;
                }
            }
        }
    }
    dropped
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use skelact_runtime::wire::{Body, Frame};

    fn frames(count: u32, joints: usize) -> Vec<Message> {
        (0..count)
            .map(|sequence| {
                let mut body = Body { id: 1, joints: heapless::Vec::new() };
                for _ in 0..joints {
                    body.joints.push(Joint { x: 0.1, y: 0.2, z: 2.0, confidence: 200 }).unwrap();
                }
                let mut bodies = heapless::Vec::new();
                bodies.push(body).unwrap();
                Message::Frame(Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies })
            })
            .collect()
    }

    fn untracked(messages: &[Message]) -> Vec<bool> {
        messages
            .iter()
            .filter_map(|m| if let Message::Frame(f) = m { Some(f) } else { None })
            .flat_map(|f| f.bodies.iter().flat_map(|b| b.joints.iter().map(|j| j.confidence == Joint::NOT_TRACKED)))
            .collect()
    }

    #[test]
    fn drops_about_the_rate_the_same_way_every_time() {
        let mut a = frames(200, 20);
        let dropped = drop_joints(&mut a, 0.1, 7);
        assert!((300..=500).contains(&dropped), "{dropped} of 4000 at 10 %");
        assert_eq!(untracked(&a).iter().filter(|&&u| u).count(), dropped);
        let mut b = frames(200, 20);
        drop_joints(&mut b, 0.1, 7);
        assert_eq!(untracked(&a), untracked(&b), "same seed, same joints");
        let mut c = frames(200, 20);
        drop_joints(&mut c, 0.1, 8);
        assert_ne!(untracked(&a), untracked(&c), "another seed, other joints");
    }

    #[test]
    fn zero_drops_nothing_and_one_drops_everything() {
        let mut none = frames(10, 20);
        assert_eq!(drop_joints(&mut none, 0.0, 1), 0);
        assert!(untracked(&none).iter().all(|&u| !u));
        let mut all = frames(10, 20);
        assert_eq!(drop_joints(&mut all, 1.0, 1), 200);
    }
}
