//! The back channel: events and status waiting to be written to the link, in a queue of fixed size.
//!
//! The ingest thread both reads frames and writes what goes back, so a write that waits for a sensor host that
//! does not read would stop frames coming in. Here nothing waits: packets are queued whole, and after every read the
//! ingest thread writes what the link takes right now (`write_now`). When the host does not read, the queue fills
//! and the oldest packets that have not started are dropped whole and counted; a packet whose first bytes went out
//! is always finished, since the host would otherwise see a torn packet glued to the next. When the link is down,
//! whatever is queued is dropped and counted as unsent: the host that was to read it is gone.
//!
//! Memory is fixed at construction: the queued bytes, one packet's worth for the packet being written, and a record
//! per packet (no packet is shorter than [`MIN_PACKET_LEN`], which bounds the records).

use std::collections::VecDeque;
use std::time::Instant;

use skelact_links::LinkError;
use skelact_runtime::wire::MAX_PACKET_LEN;

/// Default size of the queue: about 400 events or status messages, over ten seconds of a busy back channel.
pub const BACK_CHANNEL_BYTES: usize = 16 * 1024;

/// Shortest packet: version, message tag, CRC, COBS overhead and delimiter.
pub const MIN_PACKET_LEN: usize = 8;

/// What a packet carries, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Event,
    Status,
}

/// What became of the packets queued so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackChannelCounters {
    /// Written whole to the link.
    pub events_written: u64,
    pub status_written: u64,
    /// Dropped because the queue was full: the sensor host did not read what the device sent back.
    pub events_dropped: u64,
    pub status_dropped: u64,
    /// Dropped because the link went down before they were written.
    pub events_unsent: u64,
    pub status_unsent: u64,
}

impl BackChannelCounters {
    fn dropped(&mut self, kind: Kind) {
        match kind {
            Kind::Event => self.events_dropped += 1,
            Kind::Status => self.status_dropped += 1,
        }
    }

    fn unsent(&mut self, kind: Kind) {
        match kind {
            Kind::Event => self.events_unsent += 1,
            Kind::Status => self.status_unsent += 1,
        }
    }

    fn written(&mut self, kind: Kind) {
        match kind {
            Kind::Event => self.events_written += 1,
            Kind::Status => self.status_written += 1,
        }
    }
}

/// When an event came to be, for its latencies when its last byte goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTimes {
    /// The frame that completed its window was decoded (none for an event that closes a departed body's segment).
    pub frame: Option<Instant>,
    /// The inference thread produced it (after the window was classified).
    pub classified: Instant,
}

/// A queued packet; its bytes are the next `len` of the queue's bytes.
#[derive(Clone, Copy, Debug)]
struct Queued {
    len: usize,
    kind: Kind,
    /// For an event, when it came to be.
    times: Option<EventTimes>,
}

/// The packet being written: `sent` of its `len` bytes are out.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    queued: Queued,
    sent: usize,
}

/// Packets waiting for the link, at most `capacity` bytes of them.
#[derive(Debug)]
pub struct BackChannel {
    capacity: usize,
    bytes: VecDeque<u8>,
    packets: VecDeque<Queued>,
    max_packets: usize,
    current: Box<[u8]>,
    in_flight: Option<InFlight>,
    counters: BackChannelCounters,
}

impl BackChannel {
    /// A queue of `capacity` bytes (at least one largest packet), allocated here once.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(MAX_PACKET_LEN + 1);
        let max_packets = capacity / MIN_PACKET_LEN;
        BackChannel {
            capacity,
            bytes: VecDeque::with_capacity(capacity),
            packets: VecDeque::with_capacity(max_packets),
            max_packets,
            current: vec![0; MAX_PACKET_LEN + 1].into_boxed_slice(),
            in_flight: None,
            counters: BackChannelCounters::default(),
        }
    }

    pub fn counters(&self) -> BackChannelCounters {
        self.counters
    }

    /// Whether nothing waits, not even the rest of a packet.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_none() && self.packets.is_empty()
    }

    /// Queues one whole packet, dropping the oldest queued ones (not the one being written) until it fits. Returns
    /// how many were dropped.
    pub fn push(&mut self, kind: Kind, packet: &[u8], times: Option<EventTimes>) -> usize {
        if packet.len() > self.current.len() {
            // Larger than any event or status encodes to; nothing could ever write it.
            self.counters.dropped(kind);
            return 1;
        }
        let mut dropped = 0;
        while self.bytes.len() + packet.len() > self.capacity || self.packets.len() >= self.max_packets {
            let Some(oldest) = self.packets.pop_front() else { break };
            self.bytes.drain(..oldest.len);
            self.counters.dropped(oldest.kind);
            dropped += 1;
        }
        self.bytes.extend(packet);
        self.packets.push_back(Queued { len: packet.len(), kind, times });
        dropped
    }

    /// Writes what `write_now` takes, packet after packet, until it takes nothing or the queue is empty. `written`
    /// hears of each packet whose last byte went out. An error means the link is down: everything queued is
    /// dropped as unsent.
    pub fn drain(
        &mut self,
        mut write_now: impl FnMut(&[u8]) -> Result<usize, LinkError>,
        mut written: impl FnMut(Kind, Option<EventTimes>),
    ) {
        loop {
            let mut flight = match self.in_flight {
                Some(flight) => flight,
                None => {
                    let Some(next) = self.packets.pop_front() else { return };
                    for (slot, byte) in self.current.iter_mut().zip(self.bytes.drain(..next.len)) {
                        *slot = byte;
                    }
                    InFlight { queued: next, sent: 0 }
                }
            };
            let result = write_now(&self.current[flight.sent..flight.queued.len]);
            match result {
                Ok(n) => {
                    flight.sent += n;
                    if flight.sent >= flight.queued.len {
                        self.in_flight = None;
                        self.counters.written(flight.queued.kind);
                        written(flight.queued.kind, flight.queued.times);
                    } else {
                        self.in_flight = Some(flight);
                        if n == 0 {
                            // The link is full; the rest waits for the next drain.
                            return;
                        }
                    }
                }
                Err(_) => {
                    self.in_flight = Some(flight);
                    self.drop_unsent();
                    return;
                }
            }
        }
    }

    /// Drops everything queued, the packet being written included, as unsent (the link is down).
    pub fn drop_unsent(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.counters.unsent(flight.queued.kind);
        }
        while let Some(packet) = self.packets.pop_front() {
            self.counters.unsent(packet.kind);
        }
        self.bytes.clear();
    }

    /// Drops everything queued as dropped (the host did not read it in time, at shutdown).
    pub fn drop_unread(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.counters.dropped(flight.queued.kind);
        }
        while let Some(packet) = self.packets.pop_front() {
            self.counters.dropped(packet.kind);
        }
        self.bytes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that takes `room` more bytes, collecting them.
    struct Sink {
        room: usize,
        got: Vec<u8>,
        down: bool,
    }

    impl Sink {
        fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
            if self.down {
                return Err(LinkError::NotConnected);
            }
            let n = self.room.min(bytes.len());
            self.got.extend_from_slice(&bytes[..n]);
            self.room -= n;
            Ok(n)
        }
    }

    fn packet(tag: u8, len: usize) -> Vec<u8> {
        vec![tag; len]
    }

    #[test]
    fn a_full_queue_drops_the_oldest_whole_packets_and_finishes_the_one_begun() {
        let mut back = BackChannel::new(MAX_PACKET_LEN + 1);
        let mut sink = Sink { room: 10, got: Vec::new(), down: false };
        back.push(Kind::Status, &packet(1, 1000), None);
        back.push(Kind::Event, &packet(2, 1000), None);
        // The first 10 bytes of the status go out; it is now being written and may not be dropped.
        back.drain(|b| sink.write_now(b), |_, _| {});
        assert_eq!(sink.got, packet(1, 10));
        back.push(Kind::Event, &packet(3, 1000), None);
        back.push(Kind::Event, &packet(4, 1000), None);
        back.push(Kind::Status, &packet(5, 1000), None);
        // 3073 bytes hold three queued packets of 1000: the event tagged 2 was the oldest not begun.
        assert_eq!(back.counters().events_dropped, 1);
        assert_eq!(back.counters().status_dropped, 0);
        let mut done = Vec::new();
        sink.room = usize::MAX;
        back.drain(|b| sink.write_now(b), |kind, _| done.push(kind));
        assert_eq!(done, [Kind::Status, Kind::Event, Kind::Event, Kind::Status]);
        let mut expected = packet(1, 1000);
        for tag in [3, 4, 5] {
            expected.extend(packet(tag, 1000));
        }
        assert_eq!(sink.got, expected, "every packet that went out went out whole, in order");
        assert!(back.is_empty());
        let counters = back.counters();
        assert_eq!((counters.events_written, counters.status_written), (2, 2));
    }

    #[test]
    fn a_link_that_goes_down_costs_what_was_queued_counted_as_unsent() {
        let mut back = BackChannel::new(BACK_CHANNEL_BYTES);
        let mut sink = Sink { room: 5, got: Vec::new(), down: false };
        let at = EventTimes { frame: Some(Instant::now()), classified: Instant::now() };
        back.push(Kind::Event, &packet(1, 20), Some(at));
        back.push(Kind::Status, &packet(2, 20), None);
        back.push(Kind::Event, &packet(3, 20), None);
        back.drain(|b| sink.write_now(b), |_, _| panic!("nothing was written whole"));
        sink.down = true;
        back.drain(|b| sink.write_now(b), |_, _| {});
        let counters = back.counters();
        assert_eq!((counters.events_unsent, counters.status_unsent), (2, 1));
        assert_eq!((counters.events_dropped, counters.status_dropped), (0, 0));
        assert!(back.is_empty());
        // An event's latencies are taken when its last byte goes out, with the times it came to be.
        sink.down = false;
        sink.room = usize::MAX;
        back.push(Kind::Event, &packet(4, 20), Some(at));
        let mut times = Vec::new();
        back.drain(|b| sink.write_now(b), |_, t| times.push(t));
        assert_eq!(times, [Some(at)]);
    }

    #[test]
    fn packets_shorter_than_any_real_one_are_bounded_by_count_as_well_as_bytes() {
        let mut back = BackChannel::new(MAX_PACKET_LEN + 1);
        let max = back.max_packets;
        let allocated = (back.packets.capacity(), back.bytes.capacity());
        for _ in 0..max + 10 {
            back.push(Kind::Status, &packet(0, 1), None);
        }
        assert_eq!(back.counters().status_dropped, 10);
        assert_eq!(back.packets.len(), max);
        assert_eq!((back.packets.capacity(), back.bytes.capacity()), allocated, "nothing grew");
    }
}
